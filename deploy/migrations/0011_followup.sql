-- 0011_followup.sql - what follow-up planning remembers about a case between events (CONTRACT.md,
-- "Additions, version 2"; common/domain/hold.h, callback.h, outreach.h): the promise and
-- instalment reminders and follow-ups already planned ("sent"), the callback the debtor asked
-- for ("callback": its time, task and the end of its window), the contact attempts that reached
-- nobody and the last right-party contact and wrong party ("unreached", "reached_at",
-- "wrong_party_at"), the last skip trace ("skip_trace_at") and a restriction waiting for its
-- restore ("restricted", "restores"). One JSON object per case, read with the case and written
-- only when planning changed it; instants are Unix seconds. It holds no personal data.

ALTER TABLE debt_case ADD COLUMN followup jsonb NOT NULL DEFAULT '{}';

-- Every forbearance is kept and planning obeys the one in force (forbear.h); forbearance.ended
-- ends one early: collection may resume from the start of local day ended_on (on or before
-- from_on: it never paused anything). The row keeps what was granted.
ALTER TABLE forbearance ADD COLUMN ended_on date;
ALTER TABLE forbearance ADD COLUMN ended_reason text; -- free text: never logged
ALTER TABLE forbearance ADD COLUMN ended_by text;
