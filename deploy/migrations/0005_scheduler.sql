-- 0005_scheduler.sql - due work for the scheduler: every open case carries the instant it must be
-- looked at again (debt_case.next_due_at), indexed, so a sweep touches only due cases.
--
-- The rule (DOMAIN.md, "constant, active management"): a segmented case that is not resolved is
-- due again at the start of the next local day, in the debtor's IANA zone, after its last
-- planning. Days past due, the strategy ladder's day, promise and instalment due dates plus grace
-- and forbearance ends all move at local midnight, so one look per local day finds every one of
-- them on the day it happens, and nothing in between. A case that is not complete yet (no
-- invoice.overdue) or is resolved has no due time (NULL) and is never swept.
--
-- It is kept by a trigger rather than by each writer, so every service that saves a case (the
-- overdue, payments and interactions workers, the scheduler itself) keeps it right without
-- knowing about it. casestore sets updated_at to the planning's `now` (the one clock), so the
-- trigger uses that, never the server's clock. An UPDATE that changes neither updated_at, status
-- nor segment keeps the next_due_at it sets (the scheduler's retry time for a case it could not
-- plan).

ALTER TABLE debt_case ADD COLUMN next_due_at timestamptz;

CREATE FUNCTION debt_case_next_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
       AND NEW.status IS NOT DISTINCT FROM OLD.status
       AND NEW.segment IS NOT DISTINCT FROM OLD.segment THEN
        RETURN NEW;
    END IF;
    IF NEW.segment IS NULL OR NEW.status = 'resolved' THEN
        NEW.next_due_at := NULL;
        RETURN NEW;
    END IF;
    -- The next local midnight after the planning; NULL when the debtor (its zone) is unknown.
    NEW.next_due_at := (SELECT ((NEW.updated_at AT TIME ZONE d.timezone)::date + 1)::timestamp
                               AT TIME ZONE d.timezone
                        FROM debtor d
                        WHERE d.creditor_id = NEW.creditor_id AND d.debtor_id = NEW.debtor_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER debt_case_next_due BEFORE INSERT OR UPDATE ON debt_case
    FOR EACH ROW EXECUTE FUNCTION debt_case_next_due();

-- Cases already there are due at once: the first sweep plans them and sets their next day.
UPDATE debt_case SET next_due_at = updated_at WHERE segment IS NOT NULL AND status <> 'resolved';

-- The sweep's only way in: due cases, oldest due first (`FOR UPDATE SKIP LOCKED`, LIMIT 1).
CREATE INDEX debt_case_due ON debt_case (next_due_at) WHERE next_due_at IS NOT NULL;
