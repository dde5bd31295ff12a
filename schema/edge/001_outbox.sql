-- The edge's outbox (services/edge/outbox.py): messages the edge accepted while Kafka could not
-- take them, kept until the relay has Kafka's ack for each. Rows leave in `id` order; a row is
-- deleted only after the ack, so a crash between the two sends it again (the idempotency key in
-- the message makes that copy harmless downstream).
CREATE TABLE outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text        NOT NULL,
    -- The Kafka record key: the sender (or mailbox), which also orders its messages.
    record_key  text        NOT NULL,
    value       bytea       NOT NULL,
    -- Kafka record headers as [[name, base64 value], ...]: the W3C trace context travels on.
    headers     jsonb       NOT NULL DEFAULT '[]',
    stored_at   timestamptz NOT NULL DEFAULT now()
);
-- "Is anything of this sender still waiting?" on every publish while the outbox is not empty.
CREATE INDEX outbox_record_key ON outbox (record_key);
