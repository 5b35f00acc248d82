"""The filter language as data: a small, typed subset of Sieve (RFC 5228).

A mailbox's filters are one `Script`. The Sieve reader (sieve.py) and the admin CLI
build it, the evaluator (evaluate.py) runs it, and the database keeps it as Sieve text
(mailbox_rules.filters, written by sieve.render, read back by sieve.parse). Every
construct here means what it means in Sieve; where Sieve leaves a choice open, Dovecot
Pigeonhole's behaviour is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeAlias, TypeGuard, get_args

MatchType = Literal["is", "contains", "matches", "regex"]
AddressPart = Literal["all", "localpart", "domain"]
EnvelopePart = Literal["from", "to"]
Comparator = Literal["i;ascii-casemap", "i;octet"]
Relation = Literal["gt", "ge", "lt", "le", "eq"]  # RFC 5231's :value relations


def is_match_type(word: str) -> TypeGuard[MatchType]:
    return word in get_args(MatchType)


def is_envelope_part(word: str) -> TypeGuard[EnvelopePart]:
    return word in get_args(EnvelopePart)


def is_comparator(word: str) -> TypeGuard[Comparator]:
    return word in get_args(Comparator)


def is_relation(word: str) -> TypeGuard[Relation]:
    return word in get_args(Relation)


# -- tests -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeaderTest:
    """header [COMPARATOR] [MATCH-TYPE] <header-names> <key-list>"""
    headers: tuple[str, ...]
    keys: tuple[str, ...]
    match: MatchType = "is"
    comparator: Comparator = "i;ascii-casemap"


@dataclass(frozen=True)
class AddressTest:
    """address [ADDRESS-PART] [COMPARATOR] [MATCH-TYPE] <header-list> <key-list>"""
    headers: tuple[str, ...]
    keys: tuple[str, ...]
    match: MatchType = "is"
    part: AddressPart = "all"
    comparator: Comparator = "i;ascii-casemap"


@dataclass(frozen=True)
class EnvelopeTest:
    """envelope [ADDRESS-PART] [COMPARATOR] [MATCH-TYPE] <envelope-part> <key-list>
    (RFC 5228 5.4): "from" is MAIL FROM ("" for the null sender, whatever the address
    part), "to" the RCPT TO address that brought the message to this mailbox."""
    envelope_parts: tuple[EnvelopePart, ...]
    keys: tuple[str, ...]
    match: MatchType = "is"
    part: AddressPart = "all"
    comparator: Comparator = "i;ascii-casemap"


@dataclass(frozen=True)
class BodyTest:
    """body [COMPARATOR] [MATCH-TYPE] :text <key-list> (RFC 5173; only the :text transform)"""
    keys: tuple[str, ...]
    match: MatchType = "contains"
    comparator: Comparator = "i;ascii-casemap"


@dataclass(frozen=True)
class ExistsTest:
    headers: tuple[str, ...]


@dataclass(frozen=True)
class SizeTest:
    over: bool          # True: size :over LIMIT; False: size :under LIMIT
    limit: int          # bytes


@dataclass(frozen=True)
class AllOf:
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class AnyOf:
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class Not:
    test: Test


@dataclass(frozen=True)
class Constant:
    """Sieve's `true` and `false`."""
    value: bool


@dataclass(frozen=True)
class CurrentDate:
    """currentdate :value RELATION "date" "YYYY-MM-DD" (RFC 5260, 5231): only as the dates
    of a ManageSieve client's vacation, which become the mailbox's vacation setting
    (managesieve/vacation.py); the filters themselves have no clock and never hold one."""
    relation: Relation
    day: date
    line: int = field(default=0, compare=False)


Test: TypeAlias = (HeaderTest | AddressTest | EnvelopeTest | BodyTest | ExistsTest | SizeTest
                   | AllOf | AnyOf | Not | Constant | CurrentDate)


# -- actions and control -------------------------------------------------------------------

@dataclass(frozen=True)
class FileInto:
    folder: str              # UTF-8 mailbox name, "/" separates levels; created on demand
    copy: bool = False       # :copy (RFC 3894): does not cancel the implicit keep


@dataclass(frozen=True)
class Redirect:
    address: str
    copy: bool = False


@dataclass(frozen=True)
class Keep:
    pass


@dataclass(frozen=True)
class Discard:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Vacation:
    """vacation [:days N] [:subject S] [:addresses LIST] REASON (RFC 5230): a reply to the
    envelope sender, at most once per N days, under the mailbox vacation's exclusions.
    It does not touch the implicit keep."""
    reason: str              # the reply's text
    days: int = 7
    subject: str = ""        # "": "Auto: " and the original subject
    addresses: tuple[str, ...] = ()  # more addresses of the owner, for "addressed directly"
    line: int = field(default=0, compare=False)  # where a script wrote it, for refusals


@dataclass(frozen=True)
class Notify:
    """notify [:importance "1"|"2"|"3"] [:message S] "mailto:ADDRESS" (RFC 5435, 5436):
    a short notification mail to ADDRESS. It does not touch the implicit keep."""
    address: str
    message: str = ""        # the notification's subject; "": "Notification: SUBJECT"
    importance: str = ""     # "1" high, "2" normal, "3" low; "": not given (normal)


@dataclass(frozen=True)
class If:
    """if TEST BLOCK [elsif TEST BLOCK]* [else BLOCK]"""
    branches: tuple[tuple[Test, Block], ...]
    otherwise: Block | None = None


Command: TypeAlias = FileInto | Redirect | Keep | Discard | Stop | Vacation | Notify | If
Block = tuple[Command, ...]


@dataclass(frozen=True)
class Script:
    commands: Block = ()


# -- the result of running a script on one message for one mailbox --------------------------

@dataclass(frozen=True)
class Delivery:
    """What happens to the message for one recipient. An empty `folders` and no redirects
    means the message is discarded. INBOX stands for the (implicit or explicit) keep.
    A vacation reply and notifications are what the script asks for; whether they go
    out is decided later (decide.py, vacation.py, notify.py)."""
    folders: tuple[str, ...]
    redirects: tuple[str, ...] = ()
    vacation: Vacation | None = None
    notifications: tuple[Notify, ...] = ()

    @property
    def discarded(self) -> bool:
        return not self.folders and not self.redirects


INBOX = "INBOX"
KEEP = Delivery(folders=(INBOX,))
