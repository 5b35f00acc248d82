"""SQLAlchemy models of the account database and its Alembic migrations."""

from mailbasic.schema.models import (MAX_ADDRESSES, MAX_MAILBOXES, Address, Base, Customer,
                                     Domain, Mailbox, ReceivingState)
from mailbasic.schema.smtplog import SmtpRecipient, SmtpTransaction
from mailbasic.schema.usage import QuotaUsage, RateCounter

__all__ = ["MAX_ADDRESSES", "MAX_MAILBOXES", "Address", "Base", "Customer", "Domain",
           "Mailbox", "QuotaUsage", "RateCounter", "ReceivingState", "SmtpRecipient",
           "SmtpTransaction"]
