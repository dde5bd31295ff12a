"""The Gmail channel, one module per part:

* `pubsub`  – verifies Pub/Sub push deliveries at the edge (OIDC JWT or shared token);
* `ingest`  – the push notification, and the consumer that turns mailbox history into
  InboundMessages on fte.tickets.incoming;
* `parsing` – a Gmail message resource → what the customer wrote (pure functions);
* `client`  – the Gmail API calls, guarded by retries and the circuit breaker;
* `sender`  – threaded replies.
"""
