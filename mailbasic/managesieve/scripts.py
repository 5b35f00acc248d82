"""What each ManageSieve command does to a mailbox's scripts, inside the caller's
transaction; the protocol is server.py's.

The active script is the mailbox's filters: PUTSCRIPT onto it and SETACTIVE store the
text through rules.service.set_filters, the code of `rules filter import`, so a script
the milter cannot run is refused with its line and reason, and GETSCRIPT of it returns
the canonical Sieve the milter runs. Filters set elsewhere (CLI, portal) with no script
named active appear as the active script DEFAULT_NAME (or the configured name).

A vacation in the active script is the mailbox's vacation setting instead
(managesieve/vacation.py), set and turned off through rules.service as the portal does;
GETSCRIPT of the active script shows it with the filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbasic.accounts import get_mailbox
from mailbasic.errors import MailbasicError
from mailbasic.managesieve.vacation import Setting, VacationRefused, join, split
from mailbasic.rules import service, sieve
from mailbasic.schema import Mailbox, MailboxRules, SieveScript, Vacation
from mailbasic.schema.rules import MAX_FILTER_SCRIPT
from mailbasic.schema.sieve import MAX_DRAFT, MAX_SCRIPT_NAME

DEFAULT_NAME = "mailbasic"
MAX_SCRIPTS = 20


class Refusal(Exception):
    """A command refused: NO with an RFC 5804 response code (or none) and a text."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.text, self.code = text, code


@dataclass(frozen=True)
class Listed:
    name: str
    active: bool


class Scripts:
    """The scripts of one mailbox (named by its primary address, Dovecot's login)."""

    def __init__(self, session: Session, mailbox_name: str,
                 default_name: str = DEFAULT_NAME) -> None:
        self.session, self.mailbox_name = session, mailbox_name
        self.default_name = default_name   # settings.managesieve_default_script
        self.mailbox: Mailbox = get_mailbox(session, mailbox_name, lock=True)

    def listing(self) -> list[Listed]:
        rows = self._rows()
        found = [Listed(row.name, row.active) for row in rows]
        if self._active_text() and not any(row.active for row in rows):
            found.insert(0, Listed(self.default_name, True))
        return found

    def text_of(self, name: str) -> str:
        if name and name == self._active_name():
            return self._active_text()
        return self._row(name).draft

    def check(self, text: str) -> None:
        """Refused as PUTSCRIPT onto the active script would be; nothing stays."""
        with self.session.begin_nested() as savepoint:
            self._set_active(text)
            savepoint.rollback()

    def put(self, name: str, text: str) -> None:
        self._check_name(name)
        if len(text) > MAX_DRAFT:
            raise Refusal(f"a script of at most {MAX_DRAFT} characters", "QUOTA/MAXSIZE")
        if name == self._active_name():
            self._set_active(text)
            return
        self.check(text)  # a draft the milter could not run would fail at SETACTIVE
        row = self._find(name) or self._new_row(name)
        row.draft = text

    def activate(self, name: str) -> None:
        """SETACTIVE: the named draft becomes the filters; "" leaves no filters. The
        script that was active keeps its text (as the filters had it) as a draft."""
        current = self._active_name()
        if name == current:
            return
        text = self._row(name).draft if name else ""
        if current:
            self._deactivate(current, self._active_text())
        self._set_active(text)
        if name:
            row = self._row(name)
            row.draft, row.active = "", True
        self.session.flush()

    def delete(self, name: str) -> None:
        if name == self._active_name():
            raise Refusal("the active script cannot be deleted; deactivate it first",
                          "ACTIVE")
        self.session.delete(self._row(name))

    def rename(self, old: str, new: str) -> None:
        self._check_name(new)
        if self._exists(new):
            raise Refusal(f"a script named {new!r} exists", "ALREADYEXISTS")
        if old == self._active_name() and self._find(old) is None:
            self._new_row(old).active = True  # filters set elsewhere get a name now
        self._row(old).name = new

    def have_space(self, name: str, size: int) -> None:
        if size > min(MAX_DRAFT, MAX_FILTER_SCRIPT):
            raise Refusal(f"a script of at most {MAX_DRAFT} octets", "QUOTA/MAXSIZE")
        if not self._exists(name) and len(self.listing()) >= MAX_SCRIPTS:
            raise Refusal(f"at most {MAX_SCRIPTS} scripts", "QUOTA/MAXSCRIPTS")

    # -- helpers ------------------------------------------------------------------------

    def _set_active(self, text: str) -> None:
        """The filters and the vacation setting from the active script's text."""
        try:
            script = sieve.parse(text, vacation_dates=True)
            filters, vacation = split(script, self._own_addresses(), date.today())
            service.set_filters(self.session, self.mailbox_name,
                                sieve.render(filters) if filters.commands else "")
        except (MailbasicError, VacationRefused) as error:
            raise Refusal(str(error)) from None
        if vacation is None:
            if self.session.get(Vacation, self.mailbox.id) is not None:
                service.clear_vacation(self.session, self.mailbox_name)
            return
        try:
            service.set_vacation(self.session, self.mailbox_name, vacation.first_day,
                                 vacation.last_day, vacation.subject, vacation.text,
                                 vacation.interval_days)
        except MailbasicError as error:
            raise Refusal(f"line {vacation.line}: vacation: {error}") from None

    def _active_text(self) -> str:
        """The active script: the filters, and the mailbox's vacation before them."""
        filters, row = self._filters(), self.session.get(Vacation, self.mailbox.id)
        if row is None:
            return filters  # exactly what `rules filter export` prints
        setting = Setting(row.first_day, row.last_day, row.subject, row.body,
                          row.interval_days, 0)
        addresses = [self.mailbox.name] + sorted(
            self._own_addresses() - {self.mailbox.name.lower()})
        return sieve.render(join(sieve.parse(filters), setting, addresses))

    def _own_addresses(self) -> set[str]:
        return {address.email.lower() for address in self.mailbox.addresses}

    def _deactivate(self, name: str, text: str) -> None:
        row = self._find(name) or self._new_row(name)
        row.active, row.draft = False, text
        self.session.flush()  # before another row becomes the one active

    def _filters(self) -> str:
        rules = self.session.get(MailboxRules, self.mailbox.id)
        return rules.filters if rules else ""

    def _active_name(self) -> str:
        for row in self._rows():
            if row.active:
                return row.name
        return self.default_name if self._active_text() else ""

    def _exists(self, name: str) -> bool:
        return name == self._active_name() or self._find(name) is not None

    def _check_name(self, name: str) -> None:
        if not 1 <= len(name) <= MAX_SCRIPT_NAME or not name.isprintable():
            raise Refusal(f"a script name is 1 to {MAX_SCRIPT_NAME} printable characters")
        if not self._exists(name) and len(self.listing()) >= MAX_SCRIPTS:
            raise Refusal(f"at most {MAX_SCRIPTS} scripts", "QUOTA/MAXSCRIPTS")

    def _rows(self) -> list[SieveScript]:
        return list(self.session.scalars(select(SieveScript).where(
            SieveScript.mailbox_id == self.mailbox.id).order_by(SieveScript.name)))

    def _find(self, name: str) -> SieveScript | None:
        return next((row for row in self._rows() if row.name == name), None)

    def _row(self, name: str) -> SieveScript:
        row = self._find(name)
        if row is None:
            raise Refusal(f"there is no script named {name!r}", "NONEXISTENT")
        return row

    def _new_row(self, name: str) -> SieveScript:
        row = SieveScript(mailbox_id=self.mailbox.id, name=name, draft="", active=False)
        self.session.add(row)
        self.session.flush()
        return row
