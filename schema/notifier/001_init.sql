-- The escalation notifier's memory (services/handoff): which notification of which escalation
-- already went out, so a redelivered fte.escalations record notifies each team once per
-- transport. One row per (escalation, team, transport), written after the send succeeded.
CREATE TABLE notifications_sent (
    escalation_id text        NOT NULL,  -- fte.events.v1.Escalation.escalation_id
    team          text        NOT NULL,
    transport     text        NOT NULL CHECK (transport IN ('email', 'webhook')),
    ticket_id     text        NOT NULL DEFAULT '',
    sent_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (escalation_id, team, transport)
);
