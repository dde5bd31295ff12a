-- Customers whose content EraseCustomerContent erased (GDPR Art. 17). A message resolved to
-- one of them before identity erased it and recorded after is stored already tombstoned, so an
-- erasure leaves nothing behind however the calls interleave.
CREATE TABLE conversation.customer_erasures (
    customer_id uuid PRIMARY KEY,
    erase_time timestamptz NOT NULL
);
