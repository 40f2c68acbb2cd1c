-- 0001_runtime.sql - the worker runtime: exactly-once bookkeeping, the outbox, the cache backlog.

-- Every input event applied, by its CloudEvents identity: a second (source, id) is a duplicate
-- and has no effect. Written in the same transaction as the event's effect.
CREATE TABLE processed_event (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    service      text        NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);
-- Forgetting old entries (RECOBRO_DEDUPE_RETENTION) scans by age: BRIN costs next to nothing on
-- insert and suits a column that grows with time.
CREATE INDEX processed_event_age ON processed_event USING brin (processed_at);

-- The next offset to read per consumer group and partition: the truth about progress. Kafka's
-- own committed offsets are only a hint; on assignment a worker seeks to these.
CREATE TABLE consumer_offset (
    group_id        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, kafka_partition)
);

-- The transactional outbox: tasks, case events and DLQ copies, written with the state change
-- that caused them and published by the relay. `shard` is a hash of the key: one relay at a time
-- publishes a shard (advisory lock), in id order, so per-key order survives several relays.
-- Published rows keep sent_at for audit until the relay's retention deletes them.
CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    shard         smallint    NOT NULL,
    topic         text        NOT NULL,
    msg_key       bytea,
    payload       bytea       NOT NULL,
    header_names  text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    event_id      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Cache writes that failed while Redis was away: re-written, newest version only, when it
-- answers again, so no stale hot case outlives an outage.
CREATE TABLE cache_pending (
    cache_key text        PRIMARY KEY,
    value     text        NOT NULL,
    version   bigint      NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
