-- 0013_next_due.sql - debt_case.next_due_at is written by the case's savers, no longer by the
-- trigger of 0005_scheduler.sql.
--
-- The rule is unchanged (0005's header; common/domain/nextdue.h): a segmented case that is not
-- resolved is due again at the start of the next local day, in the zone its debtor row holds,
-- after its last planning (updated_at); otherwise it has no due time (NULL). The one writer of
-- planned cases, casestore's bulk UPDATE (cs_case, common/store/casestore.c), now sends the value
-- computed in C from the case file it saves (local midnight read exactly as PostgreSQL's AT TIME
-- ZONE reads it), and keeps the stored value when the save moves neither updated_at, status nor
-- segment, as the trigger did. The scheduler's set-aside (sw_set_aside) writes its retry time
-- itself; new case rows (cs_touch, cs_touch_many) are not segmented and keep the column's NULL.
--
-- Why: the trigger looked up the debtor's zone for every case row written, about 10 us of the
-- 22 us a case UPDATE cost the server (issue 10). Values already stored were written by the
-- trigger and stay right. Run the binaries of this version with this migration: an older case
-- worker would leave next_due_at where it was.

DROP TRIGGER IF EXISTS debt_case_next_due ON debt_case;
DROP FUNCTION IF EXISTS debt_case_next_due();
