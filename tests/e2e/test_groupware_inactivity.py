"""The six-month rule of `mailbasic jobs inactivity` against the real webmail: contacts and
events made over CardDAV and CalDAV in the stack's SOGo (behind its nginx), SOGo's tables
in the stack's PostgreSQL, the job run as the timers run it (a process of its own)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
import sys
from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbasic import db
from mailbasic.config import render_settings
from mailbasic.devstack.layout import HOST
from mailbasic.schema.privileges import SOGO_SCHEMA
from tests.conftest import Cli

DOMAIN = "groupware.example"
PASSWORD = "a groupware test secret"
MAILBASIC = str(Path(sys.executable).parent / "mailbasic")
SIGNATURE = "kept through the groupware rule"
VCARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Erika Mustermann\r\n"
         "N:Mustermann;Erika;;;\r\nEMAIL;TYPE=work:erika@remote.example\r\nEND:VCARD\r\n")
VEVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailbasic//tests//EN\r\n"
          "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261130T090000Z\r\n"
          "DTSTART:20270115T090000Z\r\nDTEND:20270115T100000Z\r\nSUMMARY:Dentist\r\n"
          "END:VEVENT\r\nEND:VCALENDAR\r\n")


class Dav:
    """A CalDAV/CardDAV client of one mailbox: Basic auth with the mailbox password."""

    def __init__(self, stack, context: ssl.SSLContext, login: str) -> None:
        self.port, self.context, self.login = stack.ports.https, context, login
        credentials = base64.b64encode(f"{login}:{PASSWORD}".encode()).decode()
        self.authorization = f"Basic {credentials}"

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection(HOST, self.port, context=self.context,
                                                 timeout=60)
        try:
            connection.request(method, f"/SOGo/dav/{self.login}/{path}",
                               body=body.encode() if body is not None else None,
                               headers={"Authorization": self.authorization,
                                        **(headers or {})})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def put(self, path: str, body: str, content_type: str) -> None:
        status, answer = self.request("PUT", path, body, {"Content-Type": content_type,
                                                          "If-None-Match": "*"})
        assert status in (201, 204), (status, answer)

    def listing(self, folder: str) -> bytes:
        """The folder's members (Depth 1): SOGo makes an empty 'personal' on access."""
        status, answer = self.request("PROPFIND", folder, headers={"Depth": "1"})
        assert status == 207, (status, answer)
        return answer


def make_mailbox(stack, tmp_path: Path, name: str) -> str:
    Cli(replace(stack.settings, bcrypt_cost=4), tmp_path).ok(
        "customer", "add", name, "--domain", DOMAIN, "--password-stdin",
        input=PASSWORD + "\n")
    return f"{name}@{DOMAIN}"


def fill(dav: Dav) -> None:
    """A contact, an event, and a webmail signature (a preference, which stays)."""
    dav.listing("Contacts/personal/")
    dav.listing("Calendar/personal/")
    dav.put("Contacts/personal/erika.vcf", VCARD.format(uid=f"erika-{dav.login}"),
            "text/vcard; charset=utf-8")
    dav.put("Calendar/personal/dentist.ics", VEVENT.format(uid=f"dentist-{dav.login}"),
            "text/calendar; charset=utf-8")
    save_signature(dav)


def save_signature(dav: Dav) -> None:
    """As the webmail's preferences page saves it (JSON, with the XSRF cookie)."""
    def call(path: str, body: dict, cookies: dict[str, str]) -> tuple[int, dict[str, str]]:
        connection = http.client.HTTPSConnection(HOST, dav.port, context=dav.context,
                                                 timeout=60)
        headers = {"Content-Type": "application/json"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            headers["X-XSRF-TOKEN"] = cookies["XSRF-TOKEN"]
        try:
            connection.request("POST", path, json.dumps(body).encode(), headers)
            answer = connection.getresponse()
            answer.read()
            jar = SimpleCookie()
            for value in answer.headers.get_all("Set-Cookie") or []:
                jar.load(value)
            return answer.status, {name: morsel.value for name, morsel in jar.items()}
        finally:
            connection.close()

    status, cookies = call("/SOGo/connect", {"userName": dav.login, "password": PASSWORD},
                           {})
    assert status == 200, status
    status, _ = call(f"/SOGo/so/{dav.login}/Preferences/save",
                     {"defaults": {"SOGoMailSignature": SIGNATURE}}, cookies)
    assert status == 200, status


def has_data(dav: Dav) -> tuple[bool, bool]:
    """(the contact is there, the event is there), by GET and by the folders' listings."""
    contact = dav.request("GET", "Contacts/personal/erika.vcf")[0] == 200
    event = dav.request("GET", "Calendar/personal/dentist.ics")[0] == 200
    assert contact == (b"erika.vcf" in dav.listing("Contacts/personal/"))
    assert event == (b"dentist.ics" in dav.listing("Calendar/personal/"))
    return contact, event


def sql(stack, statement: str, **values) -> list:
    engine = db.make_engine(stack.settings)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def webmail_idle_since(stack, login: str, days: int) -> None:
    """As if the last webmail login and the creation were `days` ago; IMAP in use."""
    sql(stack, "UPDATE mailboxes SET created_at = now() - make_interval(days => :days),"
               " last_webmail_login_at = now() - make_interval(days => :days),"
               " last_imap_login_at = now(), reactivated_at = NULL"
               " WHERE id = (SELECT mailbox_id FROM addresses a JOIN domains d"
               "  ON d.id = a.domain_id WHERE a.local_part = :local AND d.name = :domain)",
        days=days, local=login.split("@")[0], domain=DOMAIN)


def profile(stack, login: str) -> str | None:
    rows = sql(stack, f'SELECT c_defaults FROM "{SOGO_SCHEMA}".sogo_user_profile'
                      " WHERE c_uid = :login", login=login)
    return rows[0][0] if rows else None


def job(config: Path, *arguments: str) -> str:
    done = subprocess.run([MAILBASIC, "--config", str(config), "jobs", "inactivity",
                           *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def config(sogo, tmp_path_factory) -> Path:
    Cli(replace(sogo.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli")).ok(
        "domain", "add", DOMAIN)
    path = tmp_path_factory.mktemp("jobs") / "mailbasic.toml"
    path.write_text(render_settings(sogo.settings))
    return path


def test_contacts_and_calendars_go_after_six_months_without_webmail(sogo, config,
                                                                      tls_context, tmp_path):
    stack = sogo
    idle = Dav(stack, tls_context, make_mailbox(stack, tmp_path, "idle.groupware"))
    used = Dav(stack, tls_context, make_mailbox(stack, tmp_path, "used.groupware"))
    for dav in (idle, used):
        fill(dav)
        assert has_data(dav) == (True, True)
        assert SIGNATURE in (profile(stack, dav.login) or "")
    webmail_idle_since(stack, idle.login, 184)

    dry = job(config, "--dry-run")
    assert (f"dry-run action=delete-groupware subject={idle.login} reason=no webmail "
            "login for 183 days: 1 address books, 1 calendars, 2 entries") in dry, dry
    assert used.login not in dry
    assert has_data(idle) == (True, True)

    done = job(config)
    assert (f"action=delete-groupware subject={idle.login} reason=no webmail login for "
            "183 days: 1 address books, 1 calendars, 2 entries") in done, done
    assert "dry-run" not in done and used.login not in done
    # IMAP logins keep the mailbox itself in use: only the groupware went.
    assert f"action=deactivate subject={idle.login}" not in done
    assert has_data(idle) == (False, False)
    assert SIGNATURE in (profile(stack, idle.login) or "")
    assert has_data(used) == (True, True)
    assert SIGNATURE in (profile(stack, used.login) or "")

    # SOGo made empty 'personal' folders again on access: nothing of the idle mailbox is
    # left to delete, and a second run deletes nothing.
    again = job(config)
    assert "delete-groupware" not in again, again
    assert has_data(used) == (True, True)


def test_webmail_logins_count_as_use_for_deactivation(sogo, config, tmp_path):
    """Deactivation counts from the latest login of any kind, the webmail's included."""
    stack = sogo
    reader = make_mailbox(stack, tmp_path, "webmail-only.groupware")
    sql(stack, "UPDATE mailboxes SET created_at = now() - interval '100 days',"
               " last_imap_login_at = now() - interval '100 days',"
               " last_webmail_login_at = now() - interval '1 day'"
               " WHERE id = (SELECT mailbox_id FROM addresses a JOIN domains d"
               "  ON d.id = a.domain_id WHERE a.local_part = :local AND d.name = :domain)",
        local=reader.split("@")[0], domain=DOMAIN)
    assert f"subject={reader}" not in job(config, "--dry-run")


def test_without_the_webmail_the_rule_does_nothing_and_says_so_once(settings, tmp_path):
    """A database SOGo never used (a deployment without the webmail): no SOGo tables."""
    path = tmp_path / "mailbasic.toml"
    path.write_text(render_settings(settings))
    for arguments in ((), ("--dry-run",)):
        lines = [line for line in job(path, *arguments).splitlines() if "groupware" in line]
        assert len(lines) == 1, lines
        assert (f"action=skip-delete-groupware subject={SOGO_SCHEMA} reason=SOGo's tables "
                "do not exist") in lines[0]
