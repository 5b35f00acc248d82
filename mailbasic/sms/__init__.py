"""SMS notifications: which messages a mailbox wants one for, the outbox, the gateway."""
