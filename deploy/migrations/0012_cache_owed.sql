-- Cache writes owed: the cases a batch changed, recorded in the batch's own transaction and
-- deleted once their cache writes went through (or failed and were remembered in
-- cache_pending). A process killed between its COMMIT and its cache writes leaves its row here;
-- every worker and scheduler re-writes those cases from their current state in PostgreSQL
-- (cacheowed.h) and deletes the row.
CREATE TABLE cache_owed (
    id           bigint      PRIMARY KEY,
    creditor_ids text[]      NOT NULL,
    debtor_ids   text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
