-- Customers merged away by ReassignCustomer (identity's merge). A message recorded for a
-- source customer afterwards — it was resolved before the merge and arrived after it — is
-- recorded for the target, so nothing lands on a customer that no longer exists.
CREATE TABLE conversation.customer_reassignments (
    source_customer_id uuid PRIMARY KEY,
    target_customer_id uuid NOT NULL,
    reassign_time timestamptz NOT NULL,
    CHECK (source_customer_id <> target_customer_id)
);
