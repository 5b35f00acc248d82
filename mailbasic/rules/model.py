"""The filter language as data: a small, typed subset of Sieve (RFC 5228).

A mailbox's filters are one `Script`. The Sieve reader (sieve.py) and the admin CLI
build it, the evaluator (evaluate.py) runs it, and the store keeps it as JSON
(`to_json` / `from_json`). Every construct here means what it means in Sieve; where
Sieve leaves a choice open, Dovecot Pigeonhole's behaviour is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

MatchType = Literal["is", "contains", "matches", "regex"]
AddressPart = Literal["all", "localpart", "domain"]
Comparator = Literal["i;ascii-casemap", "i;octet"]


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
    tests: tuple["Test", ...]


@dataclass(frozen=True)
class AnyOf:
    tests: tuple["Test", ...]


@dataclass(frozen=True)
class Not:
    test: "Test"


@dataclass(frozen=True)
class Constant:
    """Sieve's `true` and `false`."""
    value: bool


Test = Union[HeaderTest, AddressTest, BodyTest, ExistsTest, SizeTest, AllOf, AnyOf, Not, Constant]


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
class If:
    """if TEST BLOCK [elsif TEST BLOCK]* [else BLOCK]"""
    branches: tuple[tuple[Test, "Block"], ...]
    otherwise: "Block | None" = None


Command = Union[FileInto, Redirect, Keep, Discard, Stop, If]
Block = tuple[Command, ...]


@dataclass(frozen=True)
class Script:
    commands: Block = ()


# -- the result of running a script on one message for one mailbox --------------------------

@dataclass(frozen=True)
class Delivery:
    """What happens to the message for one recipient. An empty `folders` and no redirects
    means the message is discarded. INBOX stands for the (implicit or explicit) keep."""
    folders: tuple[str, ...]
    redirects: tuple[str, ...] = ()

    @property
    def discarded(self) -> bool:
        return not self.folders and not self.redirects


INBOX = "INBOX"
KEEP = Delivery(folders=(INBOX,))
