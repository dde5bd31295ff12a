-- Identity: one customer for every address they write from.
-- Applied by the migration runner as fte_identity, the owner of schema `identity`.

-- A customer row is never deleted: a merged-away customer stays, pointing at the one that
-- absorbed it, so old ids in tickets, logs and Kafka events still lead somewhere.
CREATE TABLE identity.customers (
    customer_id uuid PRIMARY KEY,
    merged_into uuid REFERENCES identity.customers (customer_id),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into IS DISTINCT FROM customer_id)
);

-- The primary key is what makes ResolveCustomer safe under concurrency: every writer upserts
-- (kind, value) and exactly one of them wins; the others read the winner.
CREATE TABLE identity.customer_identifiers (
    kind text NOT NULL CHECK (kind IN ('email', 'phone')),
    -- Normalised: emails trimmed and case-folded, phone and WhatsApp numbers in E.164.
    value text NOT NULL CHECK (value <> ''),
    customer_id uuid NOT NULL REFERENCES identity.customers (customer_id),
    first_seen_channel text CHECK (first_seen_channel IN ('email', 'whatsapp', 'web_form')),
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identifiers_by_customer ON identity.customer_identifiers (customer_id);

-- Every name a customer gave, per channel; the most recently seen one is the display name.
CREATE TABLE identity.customer_names (
    customer_id uuid NOT NULL REFERENCES identity.customers (customer_id),
    channel text NOT NULL CHECK (channel IN ('email', 'whatsapp', 'web_form')),
    name text NOT NULL CHECK (name <> ''),
    first_seen_time timestamptz NOT NULL DEFAULT now(),
    last_seen_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, channel, name)
);

-- One row per merge: who asked, when, why, and exactly what moved. A customer is merged
-- away at most once (source is unique), which also makes a retried merge recognisable.
CREATE TABLE identity.customer_merges (
    merge_id uuid PRIMARY KEY,
    source_customer_id uuid NOT NULL UNIQUE REFERENCES identity.customers (customer_id),
    target_customer_id uuid NOT NULL REFERENCES identity.customers (customer_id),
    requested_by text NOT NULL CHECK (requested_by <> ''),
    reason text NOT NULL DEFAULT '',
    -- [{"kind": "email", "value": "..."}]: identifiers re-pointed from source to target.
    identifiers_moved jsonb NOT NULL,
    -- [{"channel": "email", "name": "..."}]: names copied to the target (the source keeps its own).
    names_copied jsonb NOT NULL,
    -- Added to after ConversationService.ReassignCustomer answered (a retried merge adds 0).
    conversations_moved integer NOT NULL DEFAULT 0,
    messages_moved integer NOT NULL DEFAULT 0,
    merge_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_merges_by_target ON identity.customer_merges (target_customer_id);
