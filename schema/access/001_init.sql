-- Access: API keys and the audit log of operator actions.
-- Applied by the migration runner as fte_access, the owner of schema `access`.

-- A key is never deleted: a revoked key keeps its row, so audit events naming it stay readable.
-- Only an argon2id hash of the secret is stored; the secret itself exists only in
-- CreateApiKey's answer. key_id is the public part of the key and finds the one row to verify.
CREATE TABLE access.api_keys (
    key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    role text NOT NULL CHECK (role IN ('viewer', 'agent', 'admin', 'service')),
    secret_hash text NOT NULL CHECK (secret_hash LIKE '$argon2id$%'),
    create_time timestamptz NOT NULL DEFAULT now(),
    revoke_time timestamptz,
    last_used_time timestamptz
);

-- Append-only: the service never updates or deletes an event. event_id orders the log (newest
-- first is `ORDER BY event_id DESC`) and is the page cursor.
CREATE TABLE access.audit_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_time timestamptz NOT NULL DEFAULT now(),
    subject text NOT NULL CHECK (subject <> ''),
    -- '' when the caller never authenticated (a denied anonymous call).
    role text NOT NULL CHECK (role IN ('', 'viewer', 'agent', 'admin', 'service')),
    method text NOT NULL CHECK (method <> ''),
    target_ids text[] NOT NULL DEFAULT '{}',
    outcome text NOT NULL CHECK (outcome IN ('succeeded', 'denied', 'failed')),
    detail text NOT NULL DEFAULT '' CHECK (length(detail) <= 1000)
);
CREATE INDEX audit_events_by_subject ON access.audit_events (subject, event_id DESC);
CREATE INDEX audit_events_by_method ON access.audit_events (method, event_id DESC);
