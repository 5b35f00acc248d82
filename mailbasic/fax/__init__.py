"""Received faxes: turning what the fax gateway (HylaFAX) delivers into documents for customers."""
