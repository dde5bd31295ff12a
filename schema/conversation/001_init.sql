-- Conversation: everything said — conversations, messages, tickets, escalations.
-- Applied by the migration runner as fte_conversation, the owner of schema `conversation`.
-- customer_id columns hold identity's ids; there is no foreign key across schemas on purpose.
-- Channels, statuses and roles are stored as readable text, checked against their enums.

CREATE TABLE conversation.conversations (
    conversation_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    -- 'closed' is set when a message arrives after 24 h of silence and starts a new one.
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'escalated', 'closed')),
    initial_channel text NOT NULL CHECK (initial_channel IN ('email', 'whatsapp', 'web_form')),
    current_channel text NOT NULL CHECK (current_channel IN ('email', 'whatsapp', 'web_form')),
    start_time timestamptz NOT NULL,
    last_message_time timestamptz NOT NULL,
    message_count integer NOT NULL DEFAULT 0,
    close_time timestamptz
);
-- One open conversation per customer, whatever the channel: RecordInbound attaches to it.
CREATE UNIQUE INDEX conversations_one_open_per_customer
    ON conversation.conversations (customer_id) WHERE status <> 'closed';
CREATE INDEX conversations_by_customer
    ON conversation.conversations (customer_id, start_time DESC);

CREATE TABLE conversation.tickets (
    ticket_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    conversation_id uuid NOT NULL REFERENCES conversation.conversations (conversation_id),
    source_channel text NOT NULL CHECK (source_channel IN ('email', 'whatsapp', 'web_form')),
    category text NOT NULL DEFAULT '',
    priority text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status text NOT NULL CHECK (status IN ('open', 'processing', 'resolved', 'escalated')),
    subject text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    resolve_time timestamptz
);
CREATE INDEX tickets_by_conversation ON conversation.tickets (conversation_id);
CREATE INDEX tickets_by_customer ON conversation.tickets (customer_id);
CREATE INDEX tickets_by_channel_time ON conversation.tickets (source_channel, create_time);

-- Every status change with its note, so a ticket's life can be replayed.
CREATE TABLE conversation.ticket_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id uuid NOT NULL REFERENCES conversation.tickets (ticket_id),
    from_status text,
    to_status text NOT NULL,
    note text NOT NULL DEFAULT '',
    event_time timestamptz NOT NULL
);
CREATE INDEX ticket_events_by_ticket ON conversation.ticket_events (ticket_id, event_id);

CREATE TABLE conversation.messages (
    message_id uuid PRIMARY KEY,
    -- Insertion order: breaks ties between messages with the same timestamp.
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    conversation_id uuid NOT NULL REFERENCES conversation.conversations (conversation_id),
    ticket_id uuid NOT NULL REFERENCES conversation.tickets (ticket_id),
    -- Denormalised from the conversation so history is one index scan; moved by ReassignCustomer.
    customer_id uuid NOT NULL,
    channel text NOT NULL CHECK (channel IN ('email', 'whatsapp', 'web_form')),
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    role text NOT NULL CHECK (role IN ('customer', 'agent', 'human', 'system')),
    content text NOT NULL,
    subject text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    -- Inbound only.
    idempotency_key text,
    thread_ref text NOT NULL DEFAULT '',
    sender_name text NOT NULL DEFAULT '',
    sentiment double precision CHECK (sentiment BETWEEN -1 AND 1),
    -- Outbound only.
    reply_id text UNIQUE,
    delivery_status text CHECK (delivery_status IN ('pending', 'sent', 'delivered', 'failed')),
    delivery_external_id text NOT NULL DEFAULT '',
    delivery_error text NOT NULL DEFAULT '',
    delivery_update_time timestamptz,
    input_tokens integer,
    output_tokens integer,
    latency_ms bigint CHECK (latency_ms >= 0),
    tool_calls jsonb,
    -- The channel's own message id is unique per channel: the same inbound stored once.
    UNIQUE (channel, idempotency_key),
    CHECK ((direction = 'inbound') = (idempotency_key IS NOT NULL)),
    CHECK ((direction = 'outbound') = (reply_id IS NOT NULL AND delivery_status IS NOT NULL))
);
CREATE INDEX messages_history ON conversation.messages (customer_id, create_time DESC, seq DESC);
CREATE INDEX messages_by_conversation ON conversation.messages (conversation_id, create_time, seq);
CREATE INDEX messages_by_ticket ON conversation.messages (ticket_id, create_time, seq);
CREATE INDEX messages_by_channel_time ON conversation.messages (channel, create_time);

-- A customer moving to another channel inside one conversation (from, to, when, which message).
CREATE TABLE conversation.channel_switches (
    message_id uuid PRIMARY KEY REFERENCES conversation.messages (message_id),
    conversation_id uuid NOT NULL REFERENCES conversation.conversations (conversation_id),
    from_channel text NOT NULL CHECK (from_channel IN ('email', 'whatsapp', 'web_form')),
    to_channel text NOT NULL CHECK (to_channel IN ('email', 'whatsapp', 'web_form')),
    switch_time timestamptz NOT NULL,
    CHECK (from_channel <> to_channel)
);
CREATE INDEX channel_switches_by_conversation
    ON conversation.channel_switches (conversation_id, switch_time);

-- One escalation per ticket and reason; the context is frozen when it is raised.
CREATE TABLE conversation.escalations (
    escalation_id uuid PRIMARY KEY,
    ticket_id uuid NOT NULL REFERENCES conversation.tickets (ticket_id),
    reason text NOT NULL CHECK (reason IN ('pricing', 'refund', 'legal', 'anger', 'human_request',
                                           'search_failed', 'processing_error', 'other')),
    note text NOT NULL DEFAULT '',
    context jsonb NOT NULL,
    create_time timestamptz NOT NULL,
    UNIQUE (ticket_id, reason)
);
