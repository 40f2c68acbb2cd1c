-- 0003_payments.sql - money in and agreements: payments with their allocation lines (so that a
-- reversal is exact), the over-payment credit they leave, promises to pay, instalment plans and
-- their instalments. Every table is keyed by (creditor_id, debtor_id) first, like 0002, so the
-- schema can be distributed by case. Money is bigint minor units of `currency`; days are dates.
-- The case's credit is not a column of its own: it is the sum of `unallocated` over the case's
-- received payments (each payment keeps what it has not paid yet, used by later invoices).

-- A payment received (or only known as reversed: a reversal that arrived first keeps its row
-- with status 'reversed' and amount NULL, so the late payment.received has no effect).
CREATE TABLE payment (
    creditor_id     text        NOT NULL,
    debtor_id       text        NOT NULL,
    payment_id      text        NOT NULL,
    amount          bigint,                         -- NULL: only the reversal is known
    currency        text,
    received_at     timestamptz,
    method          text,
    invoice_ids     jsonb       NOT NULL DEFAULT '[]', -- named invoices, as received
    status          text        NOT NULL
                                CHECK (status IN ('received', 'reversed')),
    unallocated     bigint      NOT NULL DEFAULT 0,    -- credit this payment still holds
    promise_id      text,                              -- the promise it counted toward
    promise_applied bigint      NOT NULL DEFAULT 0,    -- how much counted (for the reversal)
    plan_id         text,                              -- the plan whose instalments it filled
    plan_lines      jsonb       NOT NULL DEFAULT '[]', -- [{"slot": n, "amount": minor}]
    reversed_at     timestamptz,
    reason          text,                              -- of the reversal; never personal data
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, payment_id)
);
CREATE INDEX payment_credit ON payment (creditor_id, debtor_id)
    WHERE status = 'received' AND unallocated > 0;

-- What a payment paid, invoice by invoice, at receipt or later out of its credit
-- (alloc_payment() / alloc_credit() lines). A reversal re-opens exactly these.
CREATE TABLE payment_allocation (
    creditor_id text        NOT NULL,
    debtor_id   text        NOT NULL,
    payment_id  text        NOT NULL,
    line_id     bigint      GENERATED ALWAYS AS IDENTITY,
    invoice_id  text        NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    from_credit boolean     NOT NULL DEFAULT false, -- made later out of the payment's credit
    reversed    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, payment_id, line_id)
);

-- A promise to pay (promise.h's promise_t, column for field). pending_approval: recorded outside
-- the negotiation limits, waiting for a supervisor (not applied: state stays 'pending' but it
-- counts for nothing until approved_by arrives).
CREATE TABLE promise (
    creditor_id      text        NOT NULL,
    debtor_id        text        NOT NULL,
    promise_id       text        NOT NULL,
    amount           bigint      NOT NULL,
    currency         text        NOT NULL,
    due_on           date        NOT NULL,
    made_on          date        NOT NULL,
    grace_days       integer     NOT NULL,
    paid_toward      bigint      NOT NULL DEFAULT 0,
    state            text        NOT NULL
                                 CHECK (state IN ('pending', 'kept', 'partially_kept', 'broken',
                                                  'cancelled')),
    as_of            date        NOT NULL,
    settled_on       date        NOT NULL,
    last_reported    text        NOT NULL DEFAULT 'pending',
    cancel_reason    text,
    pending_approval boolean     NOT NULL DEFAULT false,
    limit_broken     text,                       -- policy_limit_name() when sent for approval
    approved_by      text,
    agent_id         text,
    channel          text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, promise_id)
);
-- The scheduler's sweep: pending promises by due date, across cases.
CREATE INDEX promise_due ON promise (due_on, creditor_id, debtor_id)
    WHERE state = 'pending' AND NOT pending_approval;

-- An instalment plan (promise.h's plan_t) and its instalments (slot 0 is the down payment when
-- has_down_payment).
CREATE TABLE plan (
    creditor_id      text        NOT NULL,
    debtor_id        text        NOT NULL,
    plan_id          text        NOT NULL,
    currency         text        NOT NULL,
    agreed_on        date        NOT NULL,
    grace_days       integer     NOT NULL,
    default_missed   integer     NOT NULL,
    has_down_payment boolean     NOT NULL DEFAULT false,
    total            bigint      NOT NULL,
    paid             bigint      NOT NULL DEFAULT 0,
    missed           integer     NOT NULL DEFAULT 0,
    state            text        NOT NULL
                                 CHECK (state IN ('active', 'completed', 'defaulted', 'cancelled')),
    as_of            date        NOT NULL,
    settled_on       date        NOT NULL,
    reported         boolean     NOT NULL DEFAULT false,
    pending_approval boolean     NOT NULL DEFAULT false,
    limit_broken     text,
    approved_by      text,
    agent_id         text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id, plan_id)
);
CREATE INDEX plan_open ON plan (creditor_id, debtor_id)
    WHERE state = 'active' AND NOT pending_approval;

CREATE TABLE plan_installment (
    creditor_id   text    NOT NULL,
    debtor_id     text    NOT NULL,
    plan_id       text    NOT NULL,
    slot          integer NOT NULL,
    due_on        date    NOT NULL,
    amount        bigint  NOT NULL CHECK (amount > 0),
    paid          bigint  NOT NULL DEFAULT 0,
    state         text    NOT NULL
                          CHECK (state IN ('pending', 'kept', 'partially_kept', 'broken')),
    missed        boolean NOT NULL DEFAULT false,
    last_reported text    NOT NULL DEFAULT 'pending',
    PRIMARY KEY (creditor_id, debtor_id, plan_id, slot),
    FOREIGN KEY (creditor_id, debtor_id, plan_id) REFERENCES plan ON DELETE CASCADE
);
-- The scheduler's sweep: unsettled instalments by due date, across cases.
CREATE INDEX plan_installment_due ON plan_installment (due_on, creditor_id, debtor_id)
    WHERE state = 'pending';
