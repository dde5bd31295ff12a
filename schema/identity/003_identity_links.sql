-- Verified linking across channels (issue 12): a customer proven on one channel says another
-- address is theirs; a one-time code goes to that address over its own channel and must come
-- back on the first one. One row per request. The code itself is never stored: only an
-- scrypt hash with a per-row salt (`scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`), slow enough
-- that trying all 10^6 six-digit codes against a leaked row takes far longer than its life.
CREATE TABLE identity.identity_links (
    link_id uuid PRIMARY KEY,
    -- Who asked (the first channel's customer); the code must come back from this customer.
    customer_id uuid NOT NULL REFERENCES identity.customers (customer_id),
    -- The channel the request came from, where the code must come back.
    first_channel text NOT NULL CHECK (first_channel IN ('email', 'whatsapp', 'web_form')),
    -- The claimed address, normalised as in customer_identifiers. Personal data: EraseCustomer
    -- deletes the rows of an erased customer and of its addresses.
    claimed_kind text NOT NULL CHECK (claimed_kind IN ('email', 'phone')),
    claimed_value text NOT NULL CHECK (claimed_value <> ''),
    code_hash text NOT NULL CHECK (code_hash LIKE 'scrypt$%'),
    attempts_left integer NOT NULL CHECK (attempts_left >= 0),
    expire_time timestamptz NOT NULL,
    -- pending → confirmed (right code) | exhausted (no attempts left) | replaced (a newer
    -- request). Expiry is read from expire_time, not written.
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'exhausted', 'replaced')),
    -- The caller's idempotency key: a retried StartLink finds its pending link, no second code.
    request_key text NOT NULL DEFAULT '',
    -- The merge a right code made (its record in customer_merges says how to reverse it).
    merge_id uuid REFERENCES identity.customer_merges (merge_id),
    -- The audit event of a confirmed link ('' when there was nothing to audit). NULL on a
    -- confirmed link: its confirmation did not finish, and the right code again finishes it.
    audit_event_id text,
    create_time timestamptz NOT NULL DEFAULT now(),
    finish_time timestamptz
);
-- At most one pending link per customer: a new request replaces the old one.
CREATE UNIQUE INDEX identity_links_one_pending ON identity.identity_links (customer_id)
    WHERE status = 'pending';
CREATE INDEX identity_links_by_customer ON identity.identity_links (customer_id, create_time DESC);
