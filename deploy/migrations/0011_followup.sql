-- 0011_followup.sql - what follow-up planning remembers about a case between events (CONTRACT.md,
-- "Additions, version 2"; common/domain/hold.h, callback.h, outreach.h): the promise and
-- instalment reminders and follow-ups already planned ("sent"), the callback the debtor asked
-- for ("callback": its time, task and the end of its window), the contact attempts that reached
-- nobody and the last right-party contact and wrong party ("unreached", "reached_at",
-- "wrong_party_at"), the last skip trace ("skip_trace_at") and a restriction waiting for its
-- restore ("restricted", "restores"). One JSON object per case, read with the case and written
-- only when planning changed it; instants are Unix seconds. It holds no personal data.

ALTER TABLE debt_case ADD COLUMN followup jsonb NOT NULL DEFAULT '{}';
