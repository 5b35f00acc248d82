"""Per-mailbox rules applied at SMTP time: filters, spam actions, forwarding, vacation."""
