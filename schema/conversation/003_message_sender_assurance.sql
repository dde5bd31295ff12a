-- Whether the channel proved that the sender of an inbound message owns the address it came
-- from (verified) or the sender only typed it (claimed: a web form without an identity token,
-- an email without DMARC pass). The agent never quotes a claimed message to anyone else as
-- their earlier contact. NULL on outbound messages and on inbound ones recorded before this
-- column existed (read as verified, as they were then).
ALTER TABLE conversation.messages
    ADD COLUMN sender_assurance text CHECK (sender_assurance IN ('verified', 'claimed'));
