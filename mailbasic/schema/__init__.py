"""SQLAlchemy models of the account database and its Alembic migrations."""

from mailbasic.schema.collect import CollectAccount, CollectedMessage, Security
from mailbasic.schema.delivery import (
    DELIVERY_STATUSES,
    DeliveryAttempt,
    LogPosition,
    MilterConnection,
    QueueLink,
    SmtpAuthAttempt,
    SmtpSession,
)
from mailbasic.schema.dkim import DkimAlgorithm, DkimKey, DkimKeyState
from mailbasic.schema.fax import FaxNumber
from mailbasic.schema.logins import (
    APP_PASSWORD_PROTOCOLS,
    AppPassword,
    AuthBlock,
    AuthKnownClient,
    SendingIncident,
)
from mailbasic.schema.models import (
    MAX_ADDRESSES,
    MAX_MAILBOXES,
    Address,
    Base,
    Customer,
    Domain,
    Mailbox,
    ReceivingState,
    ReleasedAddress,
)
from mailbasic.schema.portal import (
    ApiToken,
    AuditEvent,
    CustomerCredentials,
    LoginFailures,
    PortalToken,
    RecoveryCode,
)
from mailbasic.schema.rules import (
    DeliveryFolder,
    Forward,
    MailboxRules,
    SenderList,
    SenderListEntry,
    SpamAction,
    Vacation,
    VacationReply,
)
from mailbasic.schema.sieve import SieveScript
from mailbasic.schema.sms import OutboxState, SmsOutbox, SmsRule, SmsRuleKind, SmsSettings
from mailbasic.schema.smtplog import SmtpRecipient, SmtpTransaction
from mailbasic.schema.usage import DovecotLogin, QuotaUsage, RateCounter

__all__ = [
    "APP_PASSWORD_PROTOCOLS",
    "DELIVERY_STATUSES",
    "MAX_ADDRESSES",
    "MAX_MAILBOXES",
    "Address",
    "ApiToken",
    "AppPassword",
    "AuditEvent",
    "AuthBlock",
    "AuthKnownClient",
    "Base",
    "CollectAccount",
    "CollectedMessage",
    "Customer",
    "CustomerCredentials",
    "DeliveryAttempt",
    "DeliveryFolder",
    "DkimAlgorithm",
    "DkimKey",
    "DkimKeyState",
    "Domain",
    "DovecotLogin",
    "FaxNumber",
    "Forward",
    "LogPosition",
    "LoginFailures",
    "Mailbox",
    "MailboxRules",
    "MilterConnection",
    "OutboxState",
    "PortalToken",
    "QueueLink",
    "QuotaUsage",
    "RateCounter",
    "ReceivingState",
    "RecoveryCode",
    "ReleasedAddress",
    "Security",
    "SenderList",
    "SenderListEntry",
    "SendingIncident",
    "SieveScript",
    "SmsOutbox",
    "SmsRule",
    "SmsRuleKind",
    "SmsSettings",
    "SmtpAuthAttempt",
    "SmtpRecipient",
    "SmtpSession",
    "SmtpTransaction",
    "SpamAction",
    "Vacation",
    "VacationReply",
]
