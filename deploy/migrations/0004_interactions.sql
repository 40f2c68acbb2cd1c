-- 0004_interactions.sql - what happened with people: the contact log (outcome, stage, techniques,
-- objections), disputes, contact preferences (opt-outs, cease, time zone) and forbearances.
-- Written by recobro-interactions; read by every worker that plans tasks (casestore.c loads the
-- contact state from here so that planning obeys the contact rules). Every table is keyed by
-- (creditor_id, debtor_id) first, like 0002_cases.sql. Free-text reasons are personal-ish data:
-- stored here, never logged.

-- Every contact.attempted, once (event_source, event_id identify it).
CREATE TABLE contact_log (
    creditor_id  text        NOT NULL,
    debtor_id    text        NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    channel      text        NOT NULL
                             CHECK (channel IN ('phone', 'sms', 'email', 'letter', 'visit')),
    at           timestamptz NOT NULL,
    outcome      text        NOT NULL
                             CHECK (outcome IN ('no_answer', 'voicemail', 'wrong_party',
                                                'right_party', 'refused', 'callback_requested',
                                                'delivered', 'delivery_failed')),
    agent_id     text,
    stage        text        CHECK (stage IN ('recognized', 'accepted', 'amount_agreed',
                                              'date_agreed')),
    techniques   text[]      NOT NULL DEFAULT '{}',
    objections   text[]      NOT NULL DEFAULT '{}',
    task_id      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, event_source, event_id)
);
-- The contact state of a case: recent phone attempts, the last right-party call, the last contact.
CREATE INDEX contact_log_recent ON contact_log (creditor_id, debtor_id, channel, at DESC);

-- A dispute of the whole debt (invoice_id NULL) or of one invoice. Open while resolved_at is NULL.
CREATE TABLE dispute (
    creditor_id  text        NOT NULL,
    debtor_id    text        NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    opened_at    timestamptz NOT NULL,
    reason       text        NOT NULL, -- the debtor's words: personal-ish, never logged
    invoice_id   text,
    resolved_at  timestamptz,
    outcome      text        CHECK (outcome IN ('upheld', 'rejected')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, event_source, event_id)
);
CREATE INDEX dispute_open ON dispute (creditor_id, debtor_id) WHERE resolved_at IS NULL;

-- The debtor's contact preferences (one row per case; absent = no restriction). `timezone`
-- overrides the accounting system's zone for every future task.
CREATE TABLE contact_preference (
    creditor_id         text        NOT NULL,
    debtor_id           text        NOT NULL,
    do_not_call         boolean     NOT NULL DEFAULT false,
    do_not_sms          boolean     NOT NULL DEFAULT false,
    do_not_email        boolean     NOT NULL DEFAULT false,
    cease_communication boolean     NOT NULL DEFAULT false,
    timezone            text,       -- IANA; NULL = the debtor's zone from accounting
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id)
);

-- A forbearance: collection paused from the start of local day from_on to the end of local day
-- until_on (CONTRACT.md's `from`/`until`; contact_forbearance_interval()).
CREATE TABLE forbearance (
    creditor_id  text        NOT NULL,
    debtor_id    text        NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    from_on      date        NOT NULL,
    until_on     date        NOT NULL CHECK (until_on >= from_on),
    reason       text        NOT NULL, -- free text: never logged
    agent_id     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, event_source, event_id)
);
CREATE INDEX forbearance_case ON forbearance (creditor_id, debtor_id, until_on DESC);

-- A task a notifier reported as not delivered (contact.attempted delivery_failed with its
-- task_id) ends as 'failed'.
ALTER TABLE task DROP CONSTRAINT task_status_check;
ALTER TABLE task ADD CONSTRAINT task_status_check
    CHECK (status IN ('pending', 'cancelled', 'done', 'suppressed', 'failed'));
