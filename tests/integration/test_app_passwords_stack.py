"""App passwords against the stack's real Dovecot and Postfix, made and revoked with the
CLI in the stack's own database: each logs in over IMAP, POP3 and SMTP AUTH only for its
protocols; a revocation and a change of the requirement apply at the next login although
Dovecot caches successes; a cached success never lets another password in; with app
passwords required (a customer with TOTP), the mailbox password no longer logs in over
IMAP or SMTP AUTH, the app password does."""

from __future__ import annotations

import imaplib
import json
import poplib
import smtplib
import ssl
import uuid
from dataclasses import dataclass, replace

import pyotp
import pytest
from sqlalchemy import delete

from mailbasic import app_passwords, audit, db
from mailbasic.accounts import get_customer
from mailbasic.portal import credentials
from mailbasic.schema import AppPassword
from tests.conftest import Cli

HOST = "127.0.0.1"
MAILBOX_PASSWORD = "the mailbox's own long secret"


@dataclass(frozen=True)
class Account:
    """A customer and its mailbox in the stack's database, on a domain of its own."""

    customer: str
    login: str
    cli: Cli


@pytest.fixture
def account(postfix, tmp_path) -> Account:
    domain = f"apppw{uuid.uuid4().hex[:8]}.example"
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path)
    cli.ok("domain", "add", domain)
    customer = f"c{uuid.uuid4().hex[:8]}"
    cli.ok("customer", "add", customer, "--domain", domain, "--password-stdin",
           input=MAILBOX_PASSWORD + "\n")
    return Account(customer, f"{customer}@{domain}", cli)


def create(account: Account, name: str, *protocols: str) -> str:
    options = [part for protocol in protocols for part in ("--protocol", protocol)]
    return account.cli.ok("app-password", "create", account.login, "--name", name,
                          *options).stdout.strip()


def imap_refusal(stack, tls_context, login: str, password: str) -> str | None:
    """None when the login works over IMAPS, else Dovecot's answer."""
    with imaplib.IMAP4_SSL(HOST, stack.ports.imaps, ssl_context=tls_context,
                           timeout=30) as client:
        try:
            client.login(login, password)
        except imaplib.IMAP4.error as error:
            return str(error)
        return None


def pop3_works(stack, tls_context, login: str, password: str) -> bool:
    client = poplib.POP3_SSL(HOST, stack.ports.pop3s, context=tls_context, timeout=30)
    try:
        client.user(login)
        client.pass_(password)
        client.stat()
        return True
    except poplib.error_proto:
        return False
    finally:
        client.quit()


def smtp_auth_works(stack, tls_context: ssl.SSLContext, login: str, password: str) -> bool:
    """SMTP AUTH PLAIN on submission after STARTTLS (Postfix asks Dovecot); one attempt,
    not smtplib.login's retry with every other mechanism."""
    with smtplib.SMTP(HOST, stack.ports.submission, timeout=30) as client:
        client.starttls(context=tls_context)
        client.ehlo()
        client.user, client.password = login, password
        try:
            client.auth("PLAIN", client.auth_plain)
        except smtplib.SMTPAuthenticationError:
            return False
        return True


def listed(account: Account) -> dict[str, dict]:
    shown = account.cli.ok("app-password", "list", account.login, "--json").stdout
    return {entry["name"]: entry for entry in json.loads(shown)}


def test_an_app_password_logs_in_only_with_its_protocols(account, postfix, tls_context):
    password = create(account, "phone", "imap", "smtp")
    assert listed(account)["phone"]["last_used_at"] is None
    assert imap_refusal(postfix, tls_context, account.login, password) is None
    assert smtp_auth_works(postfix, tls_context, account.login, password)
    assert not pop3_works(postfix, tls_context, account.login, password)
    poller = create(account, "poller", "pop3")
    assert pop3_works(postfix, tls_context, account.login, poller)
    assert imap_refusal(postfix, tls_context, account.login, poller) is not None
    # Dovecot notes the use (at most once a minute); the CLI shows it.
    used = listed(account)
    assert used["phone"]["last_used_at"] is not None
    assert used["poller"]["last_used_at"] is not None
    # The mailbox password still logs in everywhere.
    assert imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD) is None
    assert pop3_works(postfix, tls_context, account.login, MAILBOX_PASSWORD)
    assert smtp_auth_works(postfix, tls_context, account.login, MAILBOX_PASSWORD)


def test_a_revoked_app_password_fails_at_once_after_a_cached_success(account, postfix,
                                                                     tls_context):
    revoked, kept = create(account, "old laptop", "imap"), create(account, "tablet", "imap")
    for password in (revoked, revoked, kept):       # the second from Dovecot's cache
        assert imap_refusal(postfix, tls_context, account.login, password) is None
    # Deleted behind Dovecot's back, a cached success still logs in: the cache is on,
    # and so the revocation's flush is what stops a revoked password at once.
    engine = db.make_engine(postfix.settings)
    with db.transaction(engine) as session:
        session.execute(delete(AppPassword).where(AppPassword.name == "tablet",
                                                  AppPassword.secret_sha256
                                                  == credentials.digest(kept)))
    engine.dispose()
    assert imap_refusal(postfix, tls_context, account.login, kept) is None
    result = account.cli.ok("app-password", "revoke", account.login, "old laptop")
    assert result.stderr == ""                       # Dovecot was told
    assert imap_refusal(postfix, tls_context, account.login, revoked) is not None
    assert "old laptop" not in listed(account)
    assert imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD) is None


def test_a_cached_success_never_lets_another_password_in(account, postfix, tls_context):
    """Dovecot's cache key of the app passwords' passdb holds the password's SHA-256: a
    key without it would let any password in after one success."""
    password = create(account, "desktop", "imap", "pop3")
    assert imap_refusal(postfix, tls_context, account.login, password) is None
    assert imap_refusal(postfix, tls_context, account.login,
                        app_passwords.new_password()) is not None
    # The same for the mailbox password's cached success.
    assert imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD) is None
    assert imap_refusal(postfix, tls_context, account.login,
                        MAILBOX_PASSWORD + "!") is not None
    assert imap_refusal(postfix, tls_context, account.login, password) is None


def test_required_app_passwords_shut_out_the_mailbox_password(account, postfix,
                                                             tls_context):
    password = create(account, "mail program", "imap", "smtp")
    assert account.cli.refused(9, "app-password", "require", account.customer).endswith(
        "app passwords can be required only with a second factor (TOTP) for the portal: "
        "turn it on first")
    turn_on_totp(postfix.settings, account.customer)
    # A success cached before the change must not outlive it.
    assert imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD) is None
    result = account.cli.ok("app-password", "require", account.customer)
    assert result.stderr == ""
    refusal = imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD)
    assert refusal is not None and "Use an app password for imap" in refusal
    assert imap_refusal(postfix, tls_context, account.login, password) is None
    # Postfix's SMTP AUTH too (it does not heed nologin: the login finds no row).
    assert not smtp_auth_works(postfix, tls_context, account.login, MAILBOX_PASSWORD)
    assert smtp_auth_works(postfix, tls_context, account.login, password)
    account.cli.ok("app-password", "require", account.customer, "--off")
    assert imap_refusal(postfix, tls_context, account.login, MAILBOX_PASSWORD) is None
    audit_log = account.cli.ok("audit", "search", "--limit", "20").stdout
    assert "app-password require" in audit_log


def turn_on_totp(settings, customer: str) -> None:
    engine = db.make_engine(settings)
    secret = pyotp.random_base32()
    with db.transaction(engine) as session:
        credentials.enable_totp(session, audit.ADMIN, get_customer(session, customer),
                                secret, pyotp.TOTP(secret).now())
    engine.dispose()


def test_the_cli_refuses_with_the_documented_exit_codes(account):
    create(account, "phone", "imap")
    command = ("app-password", "create", account.login, "--name")
    assert account.cli.refused(5, *command, "phone", "--protocol", "pop3").endswith(
        f"{account.login} already has an app password named 'phone'")
    assert "choose at least one protocol" in account.cli.refused(7, *command, "laptop")
    assert "unknown protocol ftp" in account.cli.refused(7, *command, "laptop",
                                                         "--protocol", "ftp")
    assert account.cli.refused(4, "app-password", "revoke", account.login, "laptop").endswith(
        f"{account.login} has no app password 'laptop'")
    assert list(listed(account)) == ["phone"]
