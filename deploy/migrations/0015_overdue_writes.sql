-- 0015_overdue_writes.sql - cheaper writes for the case workers' batch saves (issue 10).
--
-- task.payload becomes json (the task.created data exactly as published) instead of jsonb.
-- Nothing reads it back by key: the workers never load it (caseload.c's cl_tasks), the CLI's
-- task listing does not show it, and json keeps every operator the reports could use (->, ->>).
-- Each batch's tasks (about 570 a batch of 500 overdue events, ~830 bytes of payload each) were
-- parsed into jsonb's binary form on every save: json only validates the text. Measured on the
-- overdue bench: cs_task_new's bind 6.2 -> 2.2 ms a batch (statement log); its 43 batches
-- replayed back to back, statement time 10.0 -> 7.9 ms a batch.
--
-- debt_case_segment (0002) is dropped: no statement filters debt_case by segment (the reports
-- read case_snapshot and segment_history; the scheduler uses debt_case_due), pg_stat_user_indexes
-- showed it never scanned, and every case save that moves a segment maintained it.
--
-- debt_case and invoice leave 20% of each page free (fillfactor 80): a case is saved once per
-- batch round and an invoice on every payment, and a save that moves no indexed column (all of
-- a day's saves of a planned case keep next_due_at: nextdue.h) can then stay on its page as a
-- heap-only tuple, with no new entry in the primary key or debt_case_due. Measured on the
-- overdue bench's 12,000 cases, 490 rows updated as cs_case does: 11.7 -> 5.0 ms and 1,965 ->
-- 493 WAL records. Rows already stored keep their pages until rewritten (VACUUM FULL).
--
-- The type change rewrites the task table once (ACCESS EXCLUSIVE while it runs): run it with
-- the workers stopped, as every migration.

ALTER TABLE task ALTER COLUMN payload TYPE json USING payload::json;
DROP INDEX IF EXISTS debt_case_segment;
ALTER TABLE debt_case SET (fillfactor = 80);
ALTER TABLE invoice SET (fillfactor = 80);
