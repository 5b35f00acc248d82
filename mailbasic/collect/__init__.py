"""POP3 collection: mail from a customer's external POP3 accounts into their mailbox."""
