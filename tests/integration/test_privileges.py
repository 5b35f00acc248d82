"""Each component's database role may do what its component needs, and nothing else
(mailbasic.schema.privileges), on a real PostgreSQL with the stack's roles."""

from __future__ import annotations

from dataclasses import replace

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mailbasic import db
from mailbasic.managesieve.scripts import Scripts
from mailbasic.schema.privileges import ComponentRole, missing_roles

PASSWORD = "a long secret\n"
DATED_VACATION = ('require ["fileinto", "vacation", "date", "relational"];\n'
                  'if header :contains "subject" "invoice" { fileinto "Invoices"; }\n'
                  'if allof (currentdate :value "ge" "date" "2026-12-01",\n'
                  '          currentdate :value "le" "date" "2026-12-24") {\n'
                  '    vacation :days 3 :subject "Away" "Back after Christmas.";\n}\n')


@pytest.fixture
def accounts(cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
           input=PASSWORD)
    return cli


def connect_as(postgres, settings, role: ComponentRole):
    url = make_url(settings.database_url)
    return psycopg2.connect(host=url.host, port=url.port, dbname=url.database,
                            user=role.value,
                            password=postgres.component_passwords[role.value])


def run(connection, statement: str):
    """The rows, or the error PostgreSQL gave; always rolled back."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
        except psycopg2.Error as error:
            return type(error).__name__
        finally:
            connection.rollback()


DENIED = "InsufficientPrivilege"


@pytest.fixture
def as_role(postgres, settings, accounts):
    connections = []

    def connect(role: ComponentRole):
        connections.append(connect_as(postgres.postgres, settings, role))
        return connections[-1]
    yield connect
    for connection in connections:
        connection.close()


def test_postfix_reads_the_lookup_views_only(as_role):
    postfix = as_role(ComponentRole.POSTFIX)
    assert run(postfix, "SELECT mailbox FROM postfix_addresses WHERE local_part = 'alice'"
                        " AND domain = 'example.net'") == [("alice@example.net",)]
    for statement in ("DELETE FROM mailboxes", "SELECT password_hash FROM mailboxes",
                      "SELECT * FROM dovecot_users", "SELECT * FROM customers",
                      "UPDATE domains SET name = 'x.example'", "CREATE TABLE evil (id int)"):
        assert run(postfix, statement) == DENIED, statement


def test_dovecot_authenticates_and_records_usage_and_logins(as_role, engine):
    dovecot = as_role(ComponentRole.DOVECOT)
    rows = run(dovecot, "SELECT username, password FROM dovecot_users")
    assert rows[0][0] == "alice@example.net" and rows[0][1].startswith("{BLF-CRYPT}")
    with dovecot.cursor() as cursor:  # what Dovecot's dicts write
        cursor.execute("INSERT INTO quota_usage (username, bytes, messages)"
                       " VALUES ('alice@example.net', 10, 1)")
        cursor.execute("INSERT INTO dovecot_logins (username, service, logged_in_at)"
                       " VALUES ('alice@example.net', 'imap', 1700000000)")
    dovecot.commit()
    with engine.connect() as connection:  # the trigger wrote the mailbox, as its owner
        assert connection.scalar(text("SELECT extract(epoch FROM last_imap_login_at)"
                                      " FROM mailboxes")) == 1700000000
    for statement in ("UPDATE mailboxes SET quota_bytes = 1", "SELECT * FROM customers",
                      "SELECT * FROM smtp_transactions", "CREATE TABLE evil (id int)"):
        assert run(dovecot, statement) == DENIED, statement


def test_daemons_read_settings_and_write_the_log_but_no_password(as_role):
    daemon = as_role(ComponentRole.DAEMON)
    assert run(daemon, "SELECT id, quota_bytes, receiving_state FROM mailboxes") != DENIED
    assert run(daemon, "INSERT INTO smtp_transactions (queue_id, client_address,"
                       " client_name, helo, tls, sender, verdicts, reply) VALUES"
                       " ('Q1', '192.0.2.1', 'x', 'x', false, '', '{}', '250')"
                       " RETURNING id") != DENIED
    for statement in ("SELECT password_hash FROM mailboxes", "SELECT * FROM mailboxes",
                      "DELETE FROM smtp_transactions", "UPDATE mailboxes SET slot = 2",
                      "SELECT * FROM collect_accounts", "DROP TABLE domains",
                      "CREATE TABLE evil (id int)"):
        assert run(daemon, statement) == DENIED, statement


def test_upgrade_names_the_component_roles_that_are_missing(engine):
    """A deployment that forgot to create them hears so at `db upgrade`, not from a
    Postfix lookup failing later."""
    with engine.connect() as connection:
        assert missing_roles(connection, ["mailbasic_daemon", "mailbasic_nobody"]) == [
            "mailbasic_nobody"]


def test_managesieve_keeps_scripts_filters_and_the_vacation_only(postgres, settings, accounts,
                                                                 as_role):
    """What a ManageSieve client does, run as the managesieve role: a draft, SETACTIVE of
    filters with a dated vacation, another script that turns the vacation off."""
    url = make_url(settings.database_url).set(
        username=ComponentRole.MANAGESIEVE.value,
        password=postgres.postgres.component_passwords[ComponentRole.MANAGESIEVE.value])
    engine = db.make_engine(replace(settings, database_url=url.render_as_string(
        hide_password=False)))
    try:
        def on_scripts(action):
            with db.transaction(engine) as session:
                return action(Scripts(session, "alice@example.net"))
        on_scripts(lambda s: s.put("away", DATED_VACATION))
        on_scripts(lambda s: s.activate("away"))
        assert "vacation" in on_scripts(lambda s: s.text_of("away"))
        on_scripts(lambda s: s.put("plain", "keep;\n"))
        on_scripts(lambda s: s.activate("plain"))
        on_scripts(lambda s: s.rename("away", "old"))
        on_scripts(lambda s: s.delete("old"))
    finally:
        engine.dispose()
    managesieve = as_role(ComponentRole.MANAGESIEVE)
    for statement in ("SELECT * FROM customers", "UPDATE mailboxes SET quota_bytes = 1",
                      "DELETE FROM mailbox_rules", "DELETE FROM delivery_folders",
                      "SELECT * FROM smtp_transactions", "SELECT * FROM vacation_replies",
                      "DELETE FROM addresses", "CREATE TABLE evil (id int)"):
        assert run(managesieve, statement) == DENIED, statement


def test_sogo_reads_its_login_view_and_keeps_its_tables_in_its_own_schema(as_role, engine):
    sogo = as_role(ComponentRole.SOGO)
    rows = run(sogo, "SELECT c_uid, c_name, c_password, mail FROM sogo_users")
    assert rows[0][:2] == ("alice@example.net", "alice@example.net")
    assert rows[0][2].startswith("{BLF-CRYPT}")
    for statement in ("SELECT * FROM mailboxes", "SELECT * FROM dovecot_passwords",
                      "SELECT * FROM customers", "CREATE TABLE public.evil (id int)"):
        assert run(sogo, statement) == DENIED, statement
    # SOGo creates its tables itself: unqualified, they land in its schema.
    with sogo.cursor() as cursor:
        cursor.execute("CREATE TABLE sogo_probe (c_uid text)")
        cursor.execute("INSERT INTO sogo_probe VALUES ('alice@example.net')")
        cursor.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'sogo_probe'")
        assert cursor.fetchone() == ("mailbasic_sogo",)
    sogo.commit()
    # The admin role (the jobs) may delete there, as a member of SOGo's role.
    with engine.begin() as connection:
        assert connection.execute(text(
            "DELETE FROM mailbasic_sogo.sogo_probe")).rowcount == 1
        connection.execute(text("DROP TABLE mailbasic_sogo.sogo_probe"))


def test_a_mailbox_without_webmail_is_not_in_sogos_view(as_role, engine):
    sogo = as_role(ComponentRole.SOGO)
    with engine.begin() as connection:
        connection.execute(text("UPDATE mailboxes SET allow_webmail = false"))
    assert run(sogo, "SELECT c_uid FROM sogo_users") == []
    with engine.begin() as connection:
        connection.execute(text("UPDATE mailboxes SET allow_webmail = true,"
                                " suspended_at = now(), suspended_reason = 'unpaid'"))
    assert run(sogo, "SELECT c_uid FROM sogo_users") == []
