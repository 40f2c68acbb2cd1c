-- 0006_outbox_retry.sql - outbox rows the broker refused are retried with backoff instead of
-- being selected first on every pass, and the rows of their key wait behind them.

-- attempts: failed publications so far; next_attempt_at: not before this instant (NULL: the row
-- never failed); last_error: the librdkafka error name of the last failure, for operators.
ALTER TABLE outbox
    ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error      text;

-- The few unsent rows that failed at least once: the relay looks here for the key a row must
-- wait behind, and counts them for the recobro_outbox_retry_waiting gauge.
CREATE INDEX outbox_failing ON outbox (shard, msg_key, id)
    WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL;
