"""The escalation notifier: fte.escalations → the owning team, by email and webhook."""
