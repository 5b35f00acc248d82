"""SQLAlchemy models of the account database and its Alembic migrations."""

from mailbasic.schema.models import (MAX_ADDRESSES, MAX_MAILBOXES, Address, Base, Customer,
                                     Domain, Mailbox, ReceivingState)
from mailbasic.schema.smtplog import SmtpRecipient, SmtpTransaction

__all__ = ["MAX_ADDRESSES", "MAX_MAILBOXES", "Address", "Base", "Customer", "Domain",
           "Mailbox", "ReceivingState", "SmtpRecipient", "SmtpTransaction"]
