-- 0015_overdue_writes.sql - cheaper writes for the case workers' batch saves (issue 10).
--
-- task.payload becomes json (the task.created data exactly as published) instead of jsonb.
-- Nothing reads it back by key: the workers never load it (caseload.c's cl_tasks), the CLI's
-- task listing does not show it, and json keeps every operator the reports could use (->, ->>).
-- Each batch's tasks (about 570 a batch of 500 overdue events, ~830 bytes of payload each) were
-- parsed into jsonb's binary form on every save: json only validates the text. Measured in the
-- overdue worker's batches (statement logging, the same run): cs_task_new bind + execute from
-- about 10.8 ms to the figure in the commit message a batch.
--
-- debt_case_segment (0002) is dropped: no statement filters debt_case by segment (the reports
-- read case_snapshot and segment_history; the scheduler uses debt_case_due), pg_stat_user_indexes
-- showed it never scanned, and every case save that moves a segment maintained it.
--
-- The type change rewrites the task table once (ACCESS EXCLUSIVE while it runs): run it with
-- the workers stopped, as every migration.

ALTER TABLE task ALTER COLUMN payload TYPE json USING payload::json;
DROP INDEX IF EXISTS debt_case_segment;
