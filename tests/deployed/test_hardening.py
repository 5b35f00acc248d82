"""The deployed service's hardening (issue 13), on its real ports and its real database:
TLS profiles, VRFY, SRS forgery, role addresses, reserved names, AUTH rate limits, and
each component's database role refused what it must not do."""

from __future__ import annotations

import re
import smtplib
import subprocess
import threading
import tomllib
import uuid
from pathlib import Path

import psycopg2
import pytest

from mailbasic.config import load_settings
from mailbasic.srs import Srs, srs_domain
from tests.corpus import mail
from tests.deployed.conftest import CONFIG, mailbasic
from tests.deployed.test_deployed_service import HOST, fetch_imaps, send_mx, unique

DAEMONS_CONFIG = Path("/etc/mailbasic/daemons.toml")
SRS_CONFIG = Path("/etc/mailbasic/srs.toml")
LOOKUPS_CONFIG = Path("/etc/mailbasic/lookups.toml")
DOVECOT_SQL = Path("/etc/dovecot/dovecot-sql.conf.ext")
# ansible/inventory/local.ini: where postmaster@ and abuse@ of every domain go.
ROLE_MAILBOX = ("hostmaster-desk@example.net", "the role mailbox's deployed secret")


def handshake(port: int, *options: str, starttls: str | None = None) -> bool:
    """Whether `openssl s_client` completes a TLS handshake with these options."""
    command = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-brief", *options]
    if starttls:
        command += ["-starttls", starttls]
    done = subprocess.run(command, input="", capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and "Protocol version" in done.stderr


# Without SECLEVEL=0 OpenSSL 3 would refuse TLS 1.0 and aNULL itself, on the client
# side: the server must be the one that refuses.
OLD = "DEFAULT@SECLEVEL=0"


@pytest.mark.parametrize("port, starttls", [(587, "smtp"), (465, None), (993, None),
                                            (995, None), (143, "imap"), (110, "pop3"),
                                            (4190, "sieve")])
def test_customer_ports_refuse_tls_1_0_and_1_1(port, starttls):
    assert handshake(port, "-tls1_2", starttls=starttls)  # the client itself works
    # ... and so does its TLS 1.0 where the server allows it: port 25, opportunistic.
    assert handshake(25, "-tls1", "-cipher", OLD, starttls="smtp")
    assert not handshake(port, "-tls1", "-cipher", OLD, starttls=starttls)
    assert not handshake(port, "-tls1_1", "-cipher", OLD, starttls=starttls)


@pytest.mark.parametrize("port, starttls", [(25, "smtp"), (587, "smtp"), (465, None),
                                            (993, None), (995, None), (4190, "sieve")])
def test_no_port_offers_anonymous_or_export_ciphers(port, starttls):
    for ciphers in ("aNULL:@SECLEVEL=0", "EXPORT:@SECLEVEL=0", "eNULL:@SECLEVEL=0"):
        assert not handshake(port, "-tls1_2", "-cipher", ciphers, starttls=starttls)


def test_submission_ciphers_are_forward_secret_aead_only():
    assert not handshake(587, "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0",
                         starttls="smtp")
    assert handshake(587, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                     starttls="smtp")


def test_vrfy_discloses_nothing(customer):
    with smtplib.SMTP(HOST, 25, timeout=60) as client:
        client.ehlo("mx.remote.example")
        known = client.verify(customer.alice[0])
        unknown = client.verify(f"nobody@{customer.domain}")
    assert known[0] in (502, 252) and known == unknown


def test_srs_address_takes_bounces_only(customer):
    settings = load_settings(CONFIG)
    srs = Srs([secret.encode() for secret in settings.srs_secrets])
    valid = srs.forward("someone@remote.example", srs_domain(settings))
    forged = re.sub(r"^SRS0=[^=]{4}=", "SRS0=abcd=", valid)
    with smtplib.SMTP(HOST, 25, timeout=60) as client:
        client.ehlo("mx.remote.example")
        client.mail("spammer@remote.example")       # not a bounce: refused
        code, text = client.rcpt(valid)
        assert code == 550 and b"5.7.1" in text
        client.rset()
        client.mail("")                              # a bounce with a forged hash
        code, _ = client.rcpt(forged)
        assert code == 550
        client.rset()
        client.mail("")                              # a bounce of our own forward
        code, _ = client.rcpt(valid)
        assert code == 250


@pytest.fixture(scope="module")
def role_mailbox():
    """The role mailbox local.ini names, made as the operator would."""
    domain = ROLE_MAILBOX[0].split("@")[1]
    if domain not in mailbasic("domain", "list"):
        mailbasic("domain", "add", domain)
    name = ROLE_MAILBOX[0].split("@")[0]
    mailbasic("customer", "add", name, "--domain", domain, "--password-stdin",
              input=ROLE_MAILBOX[1] + "\n")
    yield ROLE_MAILBOX
    mailbasic("customer", "delete", name, "--yes")


@pytest.mark.parametrize("role", ["postmaster", "abuse"])
def test_role_addresses_of_every_domain_reach_the_role_mailbox(customer, role_mailbox,
                                                               tls_context, role):
    subject = unique(f"to {role}")
    recipient = f"{role}@{customer.domain}"
    send_mx("someone@remote.example", [recipient],
            mail(subject, recipient=recipient).as_bytes())
    assert fetch_imaps(role_mailbox, tls_context, subject)["To"] == recipient


def test_reserved_names_cannot_be_taken(customer):
    done = subprocess.run(["/opt/mailbasic/venv/bin/mailbasic", "--config", str(CONFIG),
                           "address", "add", f"postmaster@{customer.domain}",
                           "--mailbox", customer.alice[0]],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 9 and "reserved" in done.stderr


def test_the_service_names_cannot_be_hosted():
    for name in ("srs.example.net", "mail.example.net"):
        done = subprocess.run(["/opt/mailbasic/venv/bin/mailbasic", "--config", str(CONFIG),
                               "domain", "add", name], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 9, done.stderr


def test_auth_guessing_is_rate_limited_per_client(customer, tls_context):
    """More AUTH commands in a minute than anvil allows (postfix_auth_rate_limit, 30)
    from one address: the rest are refused. Sent from an address of their own on
    loopback, so the other tests' logins are not counted with them."""
    client_address = f"127.0.{uuid.uuid4().int % 200 + 20}.{uuid.uuid4().int % 250 + 2}"
    replies: list[str] = []

    def guess() -> None:
        try:
            with smtplib.SMTP_SSL(HOST, 465, context=tls_context, timeout=60,
                                  source_address=(client_address, 0)) as client:
                client.ehlo("guesser.example")
                code, text = client.docmd("AUTH", "PLAIN AGFsaWNlAHdyb25n")  # alice/wrong
                replies.append(f"{code} {text.decode()}")
        except smtplib.SMTPException as error:
            replies.append(str(error))

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 40
    limited = [reply for reply in replies if "too many AUTH" in reply]
    assert 5 <= len(limited) <= 15, replies


def connect(config_text: str):
    """A connection with the credentials in a deployed file (Dovecot's SQL configuration
    or a mailbasic TOML file)."""
    if "[database]" in config_text:
        return psycopg2.connect(tomllib.loads(config_text)["database"]["url"]
                                .replace("postgresql+psycopg2://", "postgresql://"))
    fields = dict(re.findall(r"^(\w+) = (.*)$", config_text, re.MULTILINE))
    return psycopg2.connect(fields["connect"].replace("\\'", "'"))  # libpq key=value


def refused(connection, statement: str) -> bool:
    with connection.cursor() as cursor:
        try:
            cursor.execute(statement)
        except psycopg2.errors.InsufficientPrivilege:
            connection.rollback()
            return True
    connection.rollback()
    return False


def test_postfix_s_lookups_read_their_views_and_nothing_else():
    connection = connect(LOOKUPS_CONFIG.read_text())
    try:
        assert not refused(connection, "SELECT count(*) FROM postfix_domains")
        for statement in ("DELETE FROM mailboxes", "SELECT * FROM mailboxes",
                          "SELECT * FROM dovecot_users", "SELECT * FROM customers",
                          "INSERT INTO domains (name) VALUES ('evil.example')",
                          "CREATE TABLE evil (id int)"):
            assert refused(connection, statement), statement
    finally:
        connection.close()


def test_dovecot_reads_logins_and_writes_usage_only():
    connection = connect(DOVECOT_SQL.read_text())
    try:
        assert not refused(connection, "SELECT count(*) FROM dovecot_users")
        assert not refused(connection, "UPDATE quota_usage SET bytes = bytes WHERE false")
        for statement in ("DELETE FROM mailboxes", "SELECT * FROM customers",
                          "SELECT * FROM smtp_transactions",
                          "UPDATE mailboxes SET quota_bytes = 1",
                          "CREATE TABLE evil (id int)"):
            assert refused(connection, statement), statement
    finally:
        connection.close()


def test_daemons_read_settings_write_the_log_and_never_see_a_password():
    connection = connect(DAEMONS_CONFIG.read_text())
    try:
        assert not refused(connection, "SELECT id, quota_bytes FROM mailboxes")
        for statement in ("SELECT password_hash FROM mailboxes", "DELETE FROM mailboxes",
                          "UPDATE mailboxes SET quota_bytes = 1",
                          "DELETE FROM smtp_transactions", "SELECT * FROM collect_accounts",
                          "CREATE TABLE evil (id int)", "DROP TABLE domains"):
            assert refused(connection, statement), statement
    finally:
        connection.close()


def test_each_component_holds_only_its_own_credentials():
    admin_url = tomllib.loads(CONFIG.read_text())["database"]["url"]
    admin_password = re.match(r"^[^:]+://[^:]+:([^@]+)@", admin_url).group(1)
    assert "[database]" not in SRS_CONFIG.read_text()  # the SRS table: no database
    readers = [*Path("/etc/postfix").rglob("*"), *Path("/etc/dovecot").rglob("*"),
               DAEMONS_CONFIG, SRS_CONFIG, LOOKUPS_CONFIG]
    for path in readers:
        if path.is_file():
            assert admin_password not in path.read_text(errors="replace"), path
    assert oct(CONFIG.stat().st_mode & 0o777) == "0o400" and CONFIG.stat().st_uid == 0
