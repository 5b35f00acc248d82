"""Bulk provisioning (`mailbasic import`): customers with their mailboxes, addresses and
quotas from a JSON lines or CSV file.

Reading turns the file into records, one per customer, each naming the line(s) it came
from; a line that cannot be read becomes a refusal of its own. `create` applies one
record through the service layer (mailbasic.accounts), so every account rule applies
with the same refusal texts as the single commands; the caller runs each record in a
transaction of its own, so a refused record leaves nothing of itself behind.

JSON lines, one customer per line (only "customer", "domain" and "password" required):

    {"customer": "alice", "domain": "example.net", "password": "...", "quota": "2G",
     "mailboxes": [{"address": "alice.work@example.org", "password": "...", "quota": "1G"}],
     "addresses": [{"address": "info@example.net", "mailbox": "alice@example.net"}]}

An address without "mailbox" goes to the first mailbox (customer@domain); it may only go
to one of the record's own mailboxes.

CSV, with a header row, one mailbox per row:

    customer,domain,mailbox,password,quota,addresses
    alice,example.net,,secret one,2G,info@example.net sales@example.net
    alice,,alice.work@example.org,secret two,1G,
    bobby,example.net,,secret three,,

A customer's first row makes the customer and its first mailbox customer@domain
("mailbox" empty or that address); the rows right after it with the same customer add
further mailboxes. "addresses" (separated by spaces, commas or semicolons) go to the
row's mailbox. All rows of one customer are one record.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TextIO

from mailbasic.errors import InvalidInput, MailbasicError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader  # what csv.reader returns
    from concurrent.futures import Executor, Future

    from sqlalchemy.orm import Session

    from mailbasic.config import Settings
    from mailbasic.schema import Customer, Mailbox

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
CSV_COLUMNS = ("customer", "domain", "mailbox", "password", "quota", "addresses")
_RECORD_KEYS = {"customer", "domain", "password", "quota", "mailboxes", "addresses"}
_MAILBOX_KEYS = {"address", "password", "quota"}
_ADDRESS_KEYS = {"address", "mailbox"}
_SEPARATORS = re.compile(r"[\s,;]+")
# bcrypt's cheapest cost: what the service layer hashes with when the hash at the
# configured cost was made ahead, in a process pool (see create()).
_THROWAWAY_COST = 4


@dataclass
class MailboxEntry:
    line: int
    address: str | None  # None: the first mailbox, customer@domain
    password: str
    quota: str | int | None = None
    password_hash: Future | None = None


@dataclass
class AddressEntry:
    line: int
    address: str
    mailbox: str | None  # None: the first mailbox


@dataclass
class Record:
    """One customer with its mailboxes (the first is customer@domain) and addresses."""

    line: int
    customer: str
    domain: str
    mailboxes: list[MailboxEntry] = field(default_factory=list)
    addresses: list[AddressEntry] = field(default_factory=list)

    @property
    def first_mailbox(self) -> str:
        return f"{self.customer}@{self.domain.strip().lower()}"

    @property
    def passwords(self) -> list[str]:
        return [mailbox.password for mailbox in self.mailboxes]


@dataclass
class Unreadable:
    """A line that is no record: its refusal, reported like a refused record."""

    line: int
    error: MailbasicError


def format_of(name: str, given: str | None) -> str | None:
    """The file's format: as given, else by its name's extension (None: cannot tell)."""
    if given:
        return given
    for extension, kind in _EXTENSIONS.items():
        if name.lower().endswith(extension):
            return kind
    return None


def read(stream: TextIO, kind: str) -> Iterator[Record | Unreadable]:
    return read_csv(stream) if kind == "csv" else read_jsonl(stream)


# --- JSON lines ----------------------------------------------------------------------

def read_jsonl(stream: TextIO) -> Iterator[Record | Unreadable]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield _record_from_json(number, text)
        except InvalidInput as error:
            yield Unreadable(number, error)


def _record_from_json(line: int, text: str) -> Record:
    try:
        data = json.loads(text.strip())
    except json.JSONDecodeError as error:
        raise InvalidInput(f"not JSON: {error.msg} at column {error.colno}") from None
    _check_keys(data, _RECORD_KEYS, "a customer record", ("customer", "domain", "password"))
    record = Record(line, _text(data, "customer"), _text(data, "domain"))
    record.mailboxes.append(MailboxEntry(line, None, _text(data, "password"),
                                         _quota(data)))
    for entry in _list(data, "mailboxes"):
        _check_keys(entry, _MAILBOX_KEYS, "a mailbox", ("address", "password"))
        record.mailboxes.append(MailboxEntry(line, _text(entry, "address"),
                                             _text(entry, "password"), _quota(entry)))
    for entry in _list(data, "addresses"):
        _check_keys(entry, _ADDRESS_KEYS, "an address", ("address",))
        mailbox = _text(entry, "mailbox") if "mailbox" in entry else None
        record.addresses.append(AddressEntry(line, _text(entry, "address"), mailbox))
    _check_targets(record)
    return record


def _check_keys(data: object, allowed: set[str], what: str, required: tuple[str, ...]) -> None:
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} in {what} (known: "
                           f"{', '.join(sorted(allowed))})")
    for key in required:
        if key not in data:
            raise InvalidInput(f"{what} needs {key!r}")


def _text(data: dict, key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    return value


def _quota(data: dict) -> str | int | None:
    value = data.get("quota")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise InvalidInput("'quota' must be a size such as \"2G\" or a number of bytes")
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{key!r} must be a list")
    return value


def _check_targets(record: Record) -> None:
    """An address goes to one of the record's own mailboxes."""
    own = [record.first_mailbox] + [m.address for m in record.mailboxes if m.address]
    known = {name.strip().lower() for name in own}
    for address in record.addresses:
        if address.mailbox is not None and address.mailbox.strip().lower() not in known:
            raise InvalidInput(f"address {address.address}: {address.mailbox} is not a "
                               f"mailbox of customer {record.customer} (its mailboxes: "
                               f"{', '.join(own)})")


# --- CSV -----------------------------------------------------------------------------

def read_csv(stream: TextIO) -> Iterator[Record | Unreadable]:
    reader = csv.reader(stream)
    rows = _csv_rows(reader)
    first = next(rows, None)
    if first is None:
        return
    line, header = first
    if isinstance(header, MailbasicError):
        yield Unreadable(line, header)
        return
    columns = [name.strip().lower() for name in header]
    problem = _header_problem(columns)
    if problem:
        yield Unreadable(line, InvalidInput(problem))
        return
    # A customer's rows, one after the other, make one record; a row that cannot be
    # read refuses its customer's record, and the rest of that customer's rows with it.
    current: Record | Unreadable | None = None
    customer: str | None = None
    for line, row in rows:
        if isinstance(row, list) and not any(cell.strip() for cell in row):
            continue
        values: dict[str, str] | MailbasicError   # the row's cells by column, or its refusal
        if isinstance(row, MailbasicError):
            values = row
        elif len(row) != len(columns):
            values = InvalidInput(f"{len(row)} columns, but the header has {len(columns)}")
        else:
            values = {name: "" for name in CSV_COLUMNS}
            values.update((name, cell.strip()) for name, cell in zip(columns, row, strict=True))
        if (isinstance(values, dict) and current is not None
                and values["customer"] == customer):
            if isinstance(current, Record):
                try:
                    _further_row(current, line, values)
                except InvalidInput as error:
                    current = Unreadable(line, error)
            continue
        if current is not None:
            yield current
        if isinstance(values, MailbasicError):
            current, customer = Unreadable(line, values), None
            continue
        customer = values["customer"]
        try:
            current = _first_row(line, values)
        except InvalidInput as error:
            current = Unreadable(line, error)
    if current is not None:
        yield current


def _csv_rows(reader: CsvReader) -> Iterator[tuple[int, list[str] | MailbasicError]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield reader.line_num, InvalidInput(f"not CSV: {error}")
            continue
        yield reader.line_num, row


def _header_problem(columns: list[str]) -> str | None:
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        return (f"unknown column {unknown[0]!r} in the header (known: "
                f"{', '.join(CSV_COLUMNS)})")
    if len(set(columns)) != len(columns):
        return "a column is named twice in the header"
    for name in ("customer", "domain", "password"):
        if name not in columns:
            return f"the header needs a column {name!r}"
    return None


def _first_row(line: int, values: dict[str, str]) -> Record:
    for name in ("customer", "domain", "password"):
        if not values[name]:
            raise InvalidInput(f"a customer's first row needs {name!r}")
    record = Record(line, values["customer"], values["domain"])
    if values["mailbox"] and values["mailbox"].lower() != record.first_mailbox.lower():
        raise InvalidInput(f"the first mailbox of customer {record.customer} is "
                           f"{record.first_mailbox} (leave 'mailbox' empty), not "
                           f"{values['mailbox']}")
    record.mailboxes.append(MailboxEntry(line, None, values["password"],
                                         values["quota"] or None))
    _csv_addresses(record, line, values["addresses"], None)
    return record


def _further_row(record: Record, line: int, values: dict[str, str]) -> None:
    for name in ("mailbox", "password"):
        if not values[name]:
            raise InvalidInput(f"a further row of customer {record.customer} (a further "
                               f"mailbox) needs {name!r}")
    if values["domain"] and values["domain"].lower() != record.domain.lower():
        raise InvalidInput(f"customer {record.customer} is in domain {record.domain} "
                           "(leave 'domain' empty on its further rows)")
    record.mailboxes.append(MailboxEntry(line, values["mailbox"], values["password"],
                                         values["quota"] or None))
    _csv_addresses(record, line, values["addresses"], values["mailbox"])


def _csv_addresses(record: Record, line: int, text: str, mailbox: str | None) -> None:
    for address in _SEPARATORS.split(text):
        if address:
            record.addresses.append(AddressEntry(line, address, mailbox))


# --- applying a record ---------------------------------------------------------------

def prehash(records: Iterable[Record], executor: Executor, cost: int) -> None:
    """Start hashing every password at the configured cost in EXECUTOR (a process pool),
    so that the records' transactions need not each wait for bcrypt (~0.16 s at 11)."""
    from mailbasic.passwords import hash_password

    for record in records:
        for mailbox in record.mailboxes:
            mailbox.password_hash = executor.submit(hash_password, mailbox.password, cost)


@dataclass
class Progress:
    """The line of the step a record is at, so that a refusal names its row."""

    line: int = 0


def create(session: Session, settings: Settings, record: Record, progress: Progress, *,
           checking: bool = False) -> Customer:
    """The customer, its mailboxes (with quotas) and addresses, in the caller's
    transaction; PROGRESS names the line of the step that is being made.

    Every step is the service layer's own function with its checks and texts. Passwords:
    the service layer validates and hashes each. When a hash at the configured cost was
    made ahead (prehash), or nothing will be stored (CHECKING: a dry run), it hashes at
    bcrypt's cheapest cost, and the hash made ahead replaces that one in the same
    transaction: what is committed is always a hash at the configured cost."""
    from mailbasic import accounts

    fast = replace(settings, bcrypt_cost=_THROWAWAY_COST)

    def hashing(entry: MailboxEntry) -> Settings:
        return fast if checking or entry.password_hash is not None else settings

    first, *further = record.mailboxes
    progress.line = first.line
    customer = accounts.add_customer(session, hashing(first), record.customer,
                                     record.domain, first.password)
    mailbox = customer.mailboxes[0]
    _store_hash(mailbox, first, settings, checking)
    _set_quota(session, mailbox.name, first.quota)
    for entry in further:
        progress.line = entry.line
        if entry.address is None:  # the readers give every further mailbox its address
            raise InvalidInput(f"customer {record.customer}: a further mailbox without "
                               "an address")
        mailbox = accounts.add_mailbox(session, hashing(entry), record.customer,
                                       entry.address, entry.password)
        _store_hash(mailbox, entry, settings, checking)
        _set_quota(session, mailbox.name, entry.quota)
    for address in record.addresses:
        progress.line = address.line
        accounts.add_address(session, settings, address.address,
                             address.mailbox or customer.mailboxes[0].name)
    progress.line = record.line
    session.flush()
    return customer


def check_deferred(session: Session) -> None:
    """Run the checks PostgreSQL defers to the commit (every mailbox keeps its primary
    address) now, for a record that will not be committed (a dry run's savepoint); then
    defer them again for the next record. Every deferrable constraint of the schema is
    INITIALLY DEFERRED, so ALL DEFERRED is the state a transaction starts in."""
    from sqlalchemy import text

    session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    session.execute(text("SET CONSTRAINTS ALL DEFERRED"))


def _store_hash(mailbox: Mailbox, entry: MailboxEntry, settings: Settings, checking: bool) -> None:
    if checking or entry.password_hash is None:
        return
    try:
        mailbox.password_hash = entry.password_hash.result()
    except Exception:  # a broken pool: hash here, never keep the cheap one
        from mailbasic.passwords import hash_password

        mailbox.password_hash = hash_password(entry.password, settings.bcrypt_cost)


def _set_quota(session: Session, mailbox: str, quota: str | int | None) -> None:
    if quota is None:
        return
    from mailbasic import accounts
    from mailbasic.config import parse_size

    try:
        quota_bytes = parse_size(quota)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    accounts.set_quota(session, mailbox, quota_bytes)


def describe(record: Record) -> str:
    """What the import prints for a record it made, as `customer add` would."""
    mailboxes = [record.first_mailbox] + [entry.address for entry in record.mailboxes[1:]
                                          if entry.address is not None]  # all further ones
    extra = len(record.addresses)
    return (f"customer {record.customer} added with mailbox"
            f"{'es' if len(mailboxes) > 1 else ''} {' '.join(mailboxes)}"
            + (f" and {extra} address{'' if extra == 1 else 'es'}" if extra else ""))
