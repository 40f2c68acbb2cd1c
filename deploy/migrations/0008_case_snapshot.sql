-- 0008_case_snapshot.sql - a daily snapshot of every open case, for exact roll rates between
-- days-past-due buckets over any period (`recobroctl report`, CONTRACT.md "Reports").
--
-- Written by the scheduler's sweep (common/pipeline/sweep.c), in the same transaction as the
-- planning of the cases it swept, with one INSERT ... SELECT per sweep batch: a case is swept once
-- per local day (debt_case.next_due_at), so it gets one row per local day of the debtor's zone
-- while it is open. A second sweep of the same case on the same local day overwrites that day's
-- row (the state as last planned), never adds one. Resolved cases are not swept: the report
-- takes their resolution from segment_history. Rows older than RECOBRO_SNAPSHOT_RETENTION_DAYS
-- are deleted by the sweep.

CREATE TABLE case_snapshot (
    creditor_id   text    NOT NULL,
    debtor_id     text    NOT NULL,
    day           date    NOT NULL, -- the local day in the debtor's zone
    days_past_due integer NOT NULL,
    bucket        text    NOT NULL
                          CHECK (bucket IN ('current', '1-30', '31-60', '61-90', '91-180',
                                            '181+')),
    segment       text,
    strategy      text,
    variant       text,
    currency      text,
    balance       bigint  NOT NULL, -- minor units of currency
    PRIMARY KEY (creditor_id, debtor_id, day)
);
-- The report reads a creditor's snapshots around two days; the sweep deletes by age.
CREATE INDEX case_snapshot_creditor_day ON case_snapshot (creditor_id, day);
CREATE INDEX case_snapshot_day ON case_snapshot (day);
