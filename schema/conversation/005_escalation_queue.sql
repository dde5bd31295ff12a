-- The escalation queue of fte.handoff.v1.HandoffService: which team owns each escalation, when
-- its first human reply is due (business hours), who owns it (claimed), when a person first
-- replied, and its resolution. The acting person is stored as the subject and display name of
-- their credential. State moves: open → claimed → resolved → open (reopened, unclaimed).
ALTER TABLE conversation.escalations
    ADD COLUMN team text NOT NULL DEFAULT 'support',
    ADD COLUMN reply_due_time timestamptz,
    ADD COLUMN state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'resolved')),
    ADD COLUMN owner_subject text NOT NULL DEFAULT '',
    ADD COLUMN owner_name text NOT NULL DEFAULT '',
    ADD COLUMN claim_time timestamptz,
    ADD COLUMN first_reply_time timestamptz,
    ADD COLUMN resolve_time timestamptz,
    ADD COLUMN resolution_note text NOT NULL DEFAULT '',
    -- Set once when the breach was counted in the Prometheus counter (any replica, once).
    ADD COLUMN breach_counted boolean NOT NULL DEFAULT false,
    -- A claimed one has its owner; an open one none; a resolved one keeps who resolved it.
    ADD CONSTRAINT escalations_owner_when_claimed
        CHECK ((state <> 'claimed' OR owner_subject <> '') AND (state <> 'open' OR owner_subject = ''));

-- Escalations raised before this migration: routed as teams.toml routed them when it was written.
UPDATE conversation.escalations SET team = CASE reason
    WHEN 'pricing' THEN 'sales' WHEN 'refund' THEN 'billing' WHEN 'legal' THEN 'legal'
    ELSE 'support' END;

-- The queue, oldest first, per state (ListEscalations pages on (create_time, escalation_id)).
CREATE INDEX escalations_queue ON conversation.escalations (state, create_time, escalation_id);

-- The short "your message was added, <name> will reply" notice a held conversation's customer
-- gets at most once an hour: when it was last decided, and for which inbound message (so a
-- redelivered message is answered the same).
CREATE TABLE conversation.hold_notices (
    conversation_id uuid PRIMARY KEY REFERENCES conversation.conversations (conversation_id),
    message_id uuid NOT NULL,
    notice_time timestamptz NOT NULL
);
