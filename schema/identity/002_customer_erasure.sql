-- EraseCustomer (GDPR Art. 17): the customer row stays (tickets, merges and audit events name
-- its id), its addresses and names are deleted, and the erasure is recorded here. A repeat
-- keeps the first time; a customer erased is never given personal data back by a merge.
ALTER TABLE identity.customers
    ADD COLUMN erase_time timestamptz,
    -- Who asked (staff email or tool name), as in customer_merges.requested_by.
    ADD COLUMN erased_by text,
    ADD CHECK ((erase_time IS NULL) = (erased_by IS NULL));
