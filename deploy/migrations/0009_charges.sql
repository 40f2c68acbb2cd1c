-- 0009_charges.sql - late interest, fees and settlements (common/domain/charges.h, settlement.h).
-- Money is bigint minor units of the case's currency; days are the debtor's local dates.
-- A case's principal stays on its invoices; what is owed beside it lives here, one row per case.

CREATE TABLE case_charges (
    creditor_id     text        NOT NULL,
    debtor_id       text        NOT NULL,
    interest        bigint      NOT NULL DEFAULT 0 CHECK (interest >= 0), -- open interest
    fees            bigint      NOT NULL DEFAULT 0 CHECK (fees >= 0),     -- open fees
    interest_total  bigint      NOT NULL DEFAULT 0, -- ever accrued
    fees_total      bigint      NOT NULL DEFAULT 0, -- ever charged
    accrued_through date,                           -- the last local day accrued (NULL: none)
    fee_charged     boolean     NOT NULL DEFAULT false,
    -- The settlement agreed or in force: {plan_id, amount, settled, written_off, interest, fees,
    -- lines: [{invoice_id, amount}]} (what a reversal re-opens), or NULL.
    settlement      jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, debtor_id)
);

-- What a received payment paid of the case's interest and fees, so that its reversal re-opens
-- exactly that (its invoice lines are in payment_allocation).
CREATE TABLE payment_charge (
    creditor_id text   NOT NULL,
    debtor_id   text   NOT NULL,
    payment_id  text   NOT NULL,
    interest    bigint NOT NULL DEFAULT 0 CHECK (interest >= 0),
    fees        bigint NOT NULL DEFAULT 0 CHECK (fees >= 0),
    PRIMARY KEY (creditor_id, debtor_id, payment_id)
);

-- A settlement writes an invoice's remainder off.
ALTER TABLE invoice DROP CONSTRAINT IF EXISTS invoice_status_check;
ALTER TABLE invoice ADD CONSTRAINT invoice_status_check
    CHECK (status IN ('open', 'cancelled', 'paid', 'written_off'));
