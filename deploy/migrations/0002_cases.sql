-- 0002_cases.sql - the collections cases: creditors, debtors, cases, invoices, tasks, segment
-- history, and the policy versions. Every table carries creditor_id (and debtor_id where it
-- applies) first in its key, so the schema can be distributed by case; every query is scoped by
-- creditor_id. Money is bigint minor units of the case's currency. Personal data (names,
-- phones, e-mails) is stored here and never logged.

-- A creditor: the agency's client.
CREATE TABLE creditor (
    creditor_id text        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A debtor of one creditor (the same person at two creditors is two debtors).
CREATE TABLE debtor (
    creditor_id text        NOT NULL,
    debtor_id   text        NOT NULL,
    name        text,                 -- personal data
    timezone    text        NOT NULL, -- IANA
    country     text,                 -- ISO 3166-1 alpha-2
    locale      text,
    phone       text,                 -- personal data
    email       text,                 -- personal data
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id)
);

-- The case: what one debtor owes one creditor, in one currency, and where collection stands.
-- A row exists from the first event about the case, even before its invoice.overdue (then
-- currency and segment are NULL). `features` holds the behavioural counters of segment.h
-- (promises_broken, ever_contacted, stage, ...) that the payments and interactions services
-- keep; the overdue worker computes balance, days_past_due, invoices_open and days_in_segment
-- itself. `version` grows with every committed change (the hot cache's version).
CREATE TABLE debt_case (
    creditor_id     text        NOT NULL,
    debtor_id       text        NOT NULL,
    currency        text,
    balance         bigint      NOT NULL DEFAULT 0,
    days_past_due   integer     NOT NULL DEFAULT 0,
    segment         text,
    rule            text,
    strategy        text,
    variant         text,
    policy_version  integer,
    high_value      boolean     NOT NULL DEFAULT false,
    segment_since   timestamptz,
    segment_seq     integer     NOT NULL DEFAULT 0, -- segment entries so far
    last_step       integer     NOT NULL DEFAULT 0, -- ladder steps done in the current entry
    stage           text        NOT NULL DEFAULT 'none',
    status          text        NOT NULL DEFAULT 'open'
                                CHECK (status IN ('open', 'paused', 'resolved')),
    features        jsonb       NOT NULL DEFAULT '{}',
    next_action     text,
    next_channel    text,
    next_not_before timestamptz,
    version         bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id)
);
CREATE INDEX debt_case_segment ON debt_case (creditor_id, segment) WHERE status <> 'resolved';

-- An invoice of a case. amount/open_amount/due_on are NULL while only an adjustment or a
-- cancellation is known (a stub, kept until its invoice.overdue arrives).
CREATE TABLE invoice (
    creditor_id text        NOT NULL,
    debtor_id   text        NOT NULL,
    invoice_id  text        NOT NULL,
    number      text,
    currency    text,
    amount      bigint,
    open_amount bigint,
    due_on      date,
    issued_on   date,
    status      text        NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'cancelled', 'paid')),
    adjusted    boolean     NOT NULL DEFAULT false, -- adjusted while a stub
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, invoice_id)
);

-- Every task decided for a case: emitted (pending until done or cancelled) or suppressed by the
-- contact rules (with the reason). `payload` is the task.created data as published.
CREATE TABLE task (
    creditor_id text        NOT NULL,
    debtor_id   text        NOT NULL,
    task_id     text        NOT NULL,
    segment     text        NOT NULL,
    segment_seq integer     NOT NULL,
    step        integer     NOT NULL,
    action      text        NOT NULL,
    channel     text        NOT NULL,
    template    text        NOT NULL,
    priority    integer     NOT NULL,
    not_before  timestamptz,
    not_after   timestamptz,
    status      text        NOT NULL
                            CHECK (status IN ('pending', 'cancelled', 'done', 'suppressed')),
    reason      text,
    payload     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, task_id)
);
CREATE INDEX task_pending ON task (creditor_id, debtor_id) WHERE status = 'pending';

-- Every segment entry of a case: the audit trail of "which rule, which policy version".
CREATE TABLE segment_history (
    creditor_id    text        NOT NULL,
    debtor_id      text        NOT NULL,
    seq            integer     NOT NULL,
    from_segment   text,
    to_segment     text        NOT NULL,
    rule           text        NOT NULL,
    policy_version integer     NOT NULL,
    strategy       text,
    variant        text,
    high_value     boolean     NOT NULL DEFAULT false,
    days_past_due  integer     NOT NULL,
    balance        bigint      NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (creditor_id, debtor_id, seq)
);

-- The collections policy, by version (deploy/policy/*.json, proto/policy.schema.json). Exactly
-- one version is active; `recobroctl policy load` adds a newer one and activates it, and the
-- workers pick it up without a restart.
CREATE TABLE policy (
    version   integer     PRIMARY KEY CHECK (version > 0),
    name      text        NOT NULL,
    document  jsonb       NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    active    boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX policy_one_active ON policy (active) WHERE active;
