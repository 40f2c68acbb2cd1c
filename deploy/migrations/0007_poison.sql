-- 0007_poison.sql - poison messages: a message that crashes the worker every time it is applied
-- must not stop its partition for ever. Before a batch runs, the worker records here, and
-- commits, that it starts the batch; the batch's own transaction moves the record on. A record
-- still there at the next start means the last attempt never committed (the process died).

-- One row per consumer group and partition with an attempt that has not committed:
-- [first_offset, last_offset] were in hand, and the message at first_offset has been started
-- `attempts` times without a commit. After a crash the worker applies those messages one at a
-- time; one started RECOBRO_POISON_ATTEMPTS times already goes to the DLQ as `poison`.
CREATE TABLE consumer_attempt (
    group_id        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    first_offset    bigint      NOT NULL,
    last_offset     bigint      NOT NULL,
    attempts        integer     NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, kafka_partition)
);
