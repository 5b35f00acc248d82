"""Runs a filter script on one message: RFC 5228 semantics, Pigeonhole as the reference.

A script is compiled once (compile_script) and run per message and recipient; the
message's facts (decoded headers, body text) are worked out once per message, lazily,
and shared by every recipient. The envelope differs per recipient (its "to") and comes
with each run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import getaddresses

import regex

from mailbasic.rules.model import (
    INBOX,
    KEEP,
    AddressTest,
    AllOf,
    AnyOf,
    Block,
    BodyTest,
    Command,
    Constant,
    Delivery,
    Discard,
    EnvelopeTest,
    ExistsTest,
    FileInto,
    HeaderTest,
    If,
    Keep,
    Not,
    Notify,
    Redirect,
    Script,
    SizeTest,
    Stop,
    Test,
    Vacation,
)

log = logging.getLogger("mailbasic.rules")

REGEX_TIMEOUT = 0.05  # seconds per match: a pathological pattern costs no more
MAX_REDIRECTS = 4     # Pigeonhole's sieve_max_redirects default


# -- the message -------------------------------------------------------------------------

@dataclass(frozen=True)
class Envelope:
    """What the envelope test reads, for one recipient: addresses without <>."""

    sender: str = ""      # MAIL FROM; "" is the null sender (bounces, auto-replies)
    recipient: str = ""   # the RCPT TO address that brought the message to this mailbox

    def values(self, part: str) -> tuple[str, ...]:
        """As Pigeonhole: "from" is always there ("" for the null sender), "to" only when
        a recipient is known."""
        if part == "from":
            return (self.sender,)
        return (self.recipient,) if self.recipient else ()


@dataclass
class MessageFacts:
    """What the tests read. headers: (name, raw unfolded value) in order."""

    headers: tuple[tuple[str, str], ...]
    size: int
    body_text: Callable[[], str] = lambda: ""
    _decoded: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _addresses: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _body: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, raw: bytes) -> MessageFacts:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        return cls(headers=tuple(header_fields(head)), size=len(raw),
                   body_text=lambda: text_of(raw))

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of header NAME, RFC 2047-decoded, stripped."""
        key = name.lower()
        if key not in self._decoded:
            self._decoded[key] = tuple(decode_value(value) for header, value in self.headers
                                       if header.lower() == key)
        return self._decoded[key]

    def addresses(self, name: str) -> tuple[str, ...]:
        """The addresses in header NAME; parsed once per message, every test reads them."""
        key = name.lower()
        if key not in self._addresses:
            self._addresses[key] = tuple(address for _, address in getaddresses(
                list(self.values(key))) if address)
        return self._addresses[key]

    def body(self) -> str:
        if self._body is None:
            self._body = self.body_text()
        return self._body


def header_fields(head: bytes) -> Iterable[tuple[str, str]]:
    """(name, unfolded value) of each header field; lines without a colon are skipped."""
    text = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    fields: list[list[str]] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1].append(line)  # RFC 5322 unfolding: the line break goes, WSP stays
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append([name.strip(), value.strip()])
        else:
            fields.append([])  # garbage: ends the field before it, joins nothing
    for field_ in fields:
        if field_:
            yield field_[0], "".join(field_[1:]).strip()


def decode_value(value: str) -> str:
    """RFC 2047 words decoded; anything undecodable compared as it came."""
    try:
        return str(make_header(decode_header(value))).strip()
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return value.strip()


def text_of(raw: bytes) -> str:
    """The body test's :text: the decoded text of every text/* part, joined."""
    try:
        parsed = message_from_bytes(raw, policy=policy.compat32)
        texts = []
        for part in parsed.walk():
            if part.get_content_maintype() != "text":
                continue
            payload = part.get_payload(decode=True)  # bytes for a part that is no multipart
            if not isinstance(payload, bytes):
                payload = b""
            texts.append(_decoded_text(payload, part.get_content_charset() or "us-ascii"))
        return "\n".join(texts)
    except Exception:  # a parser bug on hostile input must not stop the delivery
        log.warning("body of a message could not be parsed; body tests see nothing")
        return ""


def _decoded_text(payload: bytes, charset: str) -> str:
    """In the declared charset; 8-bit text that does not fit it (often UTF-8 sent
    without a charset) is read as UTF-8, as Pigeonhole does."""
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return payload.decode("utf-8", "replace")


# -- matching ----------------------------------------------------------------------------

def _fold(text: str, comparator: str) -> str:
    if comparator == "i;octet":
        return text
    return text.translate(_ASCII_LOWER)  # i;ascii-casemap: only A-Z fold


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


@functools.lru_cache(maxsize=4096)
def wildcard_pattern(key: str, comparator: str) -> regex.Pattern[str]:
    """Sieve's :matches: * any sequence, ? one character, backslash escapes."""
    parts, escaped = [], False
    for character in key:
        if escaped:
            parts.append(regex.escape(character))
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "*":
            parts.append(".*")
        elif character == "?":
            parts.append(".")
        else:
            parts.append(regex.escape(_fold(character, comparator)))
    return regex.compile("".join(parts), regex.DOTALL)


@functools.lru_cache(maxsize=4096)
def regex_pattern(key: str, comparator: str) -> regex.Pattern[str] | None:
    flags = regex.IGNORECASE if comparator == "i;ascii-casemap" else 0
    try:
        return regex.compile(key, flags | regex.POSIX | regex.DOTALL)
    except regex.error:
        return None


Check = Callable[[str], bool]
Predicate = Callable[[MessageFacts, Envelope], bool]


def matcher(keys: tuple[str, ...], match: str, comparator: str) -> Check:
    """Whether a value matches any of KEYS; keys folded and patterns compiled once."""
    if match == "regex":
        patterns = [regex_pattern(key, comparator) for key in keys]
        return lambda value: any(_search(pattern, value, key)
                                 for pattern, key in zip(patterns, keys, strict=True))
    if match == "matches":
        wildcards = [wildcard_pattern(key, comparator) for key in keys]
        return lambda value: any(pattern.fullmatch(_fold(value, comparator)) is not None
                                 for pattern in wildcards)
    folded = [_fold(key, comparator) for key in keys]
    if match == "is":
        exact = frozenset(folded)
        return lambda value: _fold(value, comparator) in exact
    return lambda value: any(key in _fold(value, comparator) for key in folded)


def matches(value: str, key: str, match: str, comparator: str) -> bool:
    return matcher((key,), match, comparator)(value)


def _search(pattern: regex.Pattern[str] | None, value: str, key: str) -> bool:
    if pattern is None:
        return False
    try:
        return pattern.search(value, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        log.warning("regex %r took longer than %.0f ms: counted as no match", key,
                    REGEX_TIMEOUT * 1000)
        return False


# -- tests -------------------------------------------------------------------------------

def address_part(address: str, part: str) -> str:
    local_part, at, domain = address.rpartition("@")
    if not at:
        local_part, domain = address, ""
    return {"all": address, "localpart": local_part, "domain": domain}[part]


def predicate(test: Test) -> Predicate:
    """TEST as a function of the message and envelope, built once per script."""
    if isinstance(test, HeaderTest):
        check, names = matcher(test.keys, test.match, test.comparator), test.headers
        return lambda facts, envelope: any(check(value) for name in names
                                           for value in facts.values(name))
    if isinstance(test, AddressTest):
        check, names, part = matcher(test.keys, test.match, test.comparator), test.headers, \
            test.part
        return lambda facts, envelope: any(check(address_part(address, part)) for name in names
                                           for address in facts.addresses(name))
    if isinstance(test, EnvelopeTest):
        check, names, part = matcher(test.keys, test.match, test.comparator), \
            test.envelope_parts, test.part
        # The null sender is "" whatever the address part (RFC 5228 5.4): address_part
        # of "" is "" for each.
        return lambda facts, envelope: any(check(address_part(address, part)) for name in names
                                           for address in envelope.values(name))
    if isinstance(test, BodyTest):
        check = matcher(test.keys, test.match, test.comparator)
        return lambda facts, envelope: check(facts.body())
    if isinstance(test, ExistsTest):
        return lambda facts, envelope: all(facts.values(name) for name in test.headers)
    if isinstance(test, SizeTest):
        return (lambda facts, envelope: facts.size > test.limit) if test.over else \
            (lambda facts, envelope: facts.size < test.limit)
    if isinstance(test, (AllOf, AnyOf)):
        inner = [predicate(each) for each in test.tests]
        combine = all if isinstance(test, AllOf) else any
        return lambda facts, envelope: combine(check(facts, envelope) for check in inner)
    if isinstance(test, Not):
        inner_test = predicate(test.test)
        return lambda facts, envelope: not inner_test(facts, envelope)
    if isinstance(test, Constant):
        return lambda facts, envelope: test.value
    raise TypeError(f"not a test: {test!r}")


def holds(test: Test, facts: MessageFacts, envelope: Envelope = Envelope()) -> bool:
    return predicate(test)(facts, envelope)


# -- running a script --------------------------------------------------------------------

@dataclass(frozen=True)
class _CompiledIf:
    branches: tuple[tuple[Predicate, tuple], ...]
    otherwise: tuple | None


def _compile_block(commands: Block) -> tuple:
    return tuple(_CompiledIf(tuple((predicate(test), _compile_block(block))
                                   for test, block in command.branches),
                             None if command.otherwise is None
                             else _compile_block(command.otherwise))
                 if isinstance(command, If) else command for command in commands)


class _Run:
    def __init__(self, facts: MessageFacts, envelope: Envelope) -> None:
        self.facts, self.envelope = facts, envelope
        self.folders: list[str] = []
        self.redirects: list[str] = []
        self.cancelled_keep = False
        self.too_many_redirects = False
        self.vacation: Vacation | None = None
        self.second_vacation = False
        self.notifications: list[Notify] = []

    def block(self, commands: tuple) -> bool:
        """Run COMMANDS; False when a stop ends the script."""
        for command in commands:
            if isinstance(command, _CompiledIf):
                if not self.branch(command):
                    return False
            elif isinstance(command, Stop):
                return False
            else:
                self.action(command)
        return True

    def branch(self, command: _CompiledIf) -> bool:
        for test, block in command.branches:
            if test(self.facts, self.envelope):
                return self.block(block)
        return self.block(command.otherwise or ())

    def action(self, command: Command) -> None:
        if isinstance(command, Keep):
            self._file(INBOX)
        elif isinstance(command, FileInto):
            self._file(command.folder)
            self.cancelled_keep |= not command.copy
        elif isinstance(command, Redirect):
            if command.address not in self.redirects:
                self.redirects.append(command.address)
                self.too_many_redirects |= len(self.redirects) > MAX_REDIRECTS
            self.cancelled_keep |= not command.copy
        elif isinstance(command, Discard):
            self.cancelled_keep = True
        elif isinstance(command, Vacation):
            self.second_vacation |= self.vacation is not None
            self.vacation = command
        elif isinstance(command, Notify):
            # RFC 5435 3.10: a second identical notification is not sent twice.
            if command.address not in (earlier.address for earlier in self.notifications):
                self.notifications.append(command)

    def _file(self, folder: str) -> None:
        folder = INBOX if folder.upper() == INBOX else folder
        if folder not in self.folders:
            self.folders.append(folder)

    def result(self) -> Delivery:
        if self.too_many_redirects or self.second_vacation:
            # Pigeonhole fails the whole script then (RFC 5230 4.7: one vacation per
            # message), and a failed script keeps the message in INBOX and does nothing
            # else: nothing is lost, nothing goes anywhere unexpected.
            return KEEP
        folders = self.folders
        if not self.cancelled_keep and INBOX not in folders:
            folders = folders + [INBOX]
        return Delivery(tuple(folders), tuple(self.redirects), self.vacation,
                        tuple(self.notifications))


@dataclass(frozen=True)
class Compiled:
    commands: tuple

    def run(self, facts: MessageFacts, envelope: Envelope = Envelope()) -> Delivery:
        run = _Run(facts, envelope)
        run.block(self.commands)
        return run.result()


def compile_script(script: Script) -> Compiled:
    """Tests become functions with their keys folded and patterns compiled, once."""
    return Compiled(_compile_block(script.commands))


def evaluate(script: Script, facts: MessageFacts, envelope: Envelope = Envelope()) -> Delivery:
    return compile_script(script).run(facts, envelope)
