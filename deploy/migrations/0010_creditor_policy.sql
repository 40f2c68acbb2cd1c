-- 0010_creditor_policy.sql - per-creditor policies and the negotiation facts the policy now
-- understands (CONTRACT.md, "Additions, version 2").
--
-- `policy` keeps every policy document by version: a version number names one document across
-- the installation (tasks, case events and segment_history name the version alone), and
-- policy.active still marks the DEFAULT policy, the one every creditor without a policy of its
-- own is planned under. `creditor_policy` says which version a creditor is planned under
-- instead: one active row per creditor, older rows kept as the audit trail of assignments.
CREATE TABLE creditor_policy (
    creditor_id text        NOT NULL,
    version     integer     NOT NULL REFERENCES policy (version),
    active      boolean     NOT NULL DEFAULT true,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (creditor_id, version)
);
CREATE UNIQUE INDEX creditor_policy_one_active ON creditor_policy (creditor_id) WHERE active;

-- The negotiation techniques an agent used to obtain a promise (promise.made `techniques`),
-- stored with it for the technique-effectiveness measures; NULL when the event named none.
ALTER TABLE promise ADD COLUMN techniques text[];
