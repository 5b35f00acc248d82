"""Delivery records: what happened to each message after Postfix took it (issue 17)."""
