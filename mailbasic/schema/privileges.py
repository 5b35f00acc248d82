"""Who may do what in the account database: one login role per component.

The admin role (database.url of the CLI, the jobs and the migrations) owns every table.
Postfix, Dovecot, the daemons (milter and policy), the portal and ManageSieve log in with
roles of their own, which the deployment creates (the Ansible postgresql role, the local
stack) and which `mailbasic db upgrade` grants exactly the rights below, taking away any
others.
The SRS daemon has no database access at all. A leaked Postfix map then reveals a
password that can read the lookup views and nothing else.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, text

from mailbasic.errors import ConfigError
from mailbasic.schema.models import Mailbox


class ComponentRole(StrEnum):
    POSTFIX = "mailbasic_postfix"
    DOVECOT = "mailbasic_dovecot"
    DAEMON = "mailbasic_daemon"      # the milter, the policy daemon and the log reader
    PORTAL = "mailbasic_portal"      # the customer portal and the admin API beside it
    MANAGESIEVE = "mailbasic_managesieve"  # `mailbasic managesieve` (RFC 5804)
    SOGO = "mailbasic_sogo"          # the webmail (SOGo): its own tables, and its logins


# The daemons read the account settings but never a password hash.
_MAILBOX_COLUMNS = ", ".join(column.name for column in Mailbox.__table__.columns
                             if column.name != "password_hash")

_READ = "SELECT"
_UPSERT = "SELECT, INSERT, UPDATE"
# INSERT ... RETURNING needs SELECT on what it returns.
_APPEND = "SELECT, INSERT"
_CHANGE = "SELECT, INSERT, UPDATE, DELETE"

# What the portal and the admin API may change of a mailbox: its password, quota and
# receiving state; never its owner or slot, nor what Dovecot and the jobs record.
_MAILBOX_CHANGES = ("password_hash, quota_bytes, receiving_state, deactivated_reason, "
                    "deactivated_at, reactivated_at")

GRANTS: dict[ComponentRole, dict[str, str]] = {
    ComponentRole.POSTFIX: {
        "postfix_domains": _READ,
        "postfix_addresses": _READ,
        "postfix_catch_alls": _READ,
    },
    ComponentRole.DOVECOT: {
        "dovecot_users": _READ,
        "dovecot_passwords": _READ,
        "dovecot_delivery_scripts": _READ,
        # Dovecot's quota dict upserts the usage and deletes it on a recalculation.
        "quota_usage": "SELECT, INSERT, UPDATE, DELETE",
        "dovecot_logins": _UPSERT,
    },
    ComponentRole.DAEMON: {
        "domains": _READ,
        "addresses": _READ,
        f"mailboxes ({_MAILBOX_COLUMNS})": "SELECT",
        "mailbox_rules": _READ,
        "sender_list_entries": _READ,
        "delivery_folders": _READ,
        "forwards": _READ,
        "vacations": _READ,
        "vacation_replies": _UPSERT,
        "quota_usage": _READ,
        "rate_counters": _UPSERT,
        "sms_settings": _READ,
        "sms_rules": _READ,
        "smtp_transactions": _APPEND,
        "smtp_recipients": _APPEND,
        "sms_outbox": _APPEND,
        "milter_connections": _APPEND,
        # `mailbasic delivery-log`: Postfix's log, stored with its position.
        "log_positions": _UPSERT,
        "delivery_attempts": _APPEND,
        "queue_links": _APPEND,
        "smtp_sessions": _UPSERT,
        "smtp_auth_attempts": _APPEND,
        # `mailbasic auth-policy`: the brute-force defence's counters, blocks and known
        # clients (its purge deletes the old ones).
        "login_failures": _CHANGE,
        "auth_blocks": _CHANGE,
        "auth_known_clients": _CHANGE,
        # A leaked password that sends spam (mailbasic/abuse/): its incidents, and the
        # automatic stop of its SMTP AUTH (the row lock that counts them needs UPDATE).
        "sending_incidents": _APPEND,
        "mailboxes (submission_suspended_at, submission_suspended_reason)": "UPDATE",
        # The milter's stage dkim_sign reads the active keys (their private parts) to sign
        # authenticated mail; only the CLI makes, activates and retires them.
        "dkim_keys": _READ,
    },
    # `mailbasic portal`: the customer pages and, in the same process, the admin API
    # (/api/v1), which provisions customers and mailboxes. Everything goes through the
    # service layer, so the rights are those of the CLI's account commands, without the
    # schema, the daemons' own state (rate counters, log positions, vacation replies),
    # the API tokens' creation or any change to the logs.
    ComponentRole.PORTAL: {
        # Customers come and go through the API. SELECT ... FOR UPDATE (a customer's
        # mailboxes are counted under its row lock) needs an UPDATE right on some column:
        # the one that changes nothing that matters.
        "customers": "SELECT, INSERT, DELETE",
        "customers (created_at)": "UPDATE",
        "domains": _READ,
        # The hash too: a customer changing a mailbox's password gives the current one.
        "mailboxes": _APPEND,
        f"mailboxes ({_MAILBOX_CHANGES})": "UPDATE",
        "addresses": _CHANGE,
        "released_addresses": _UPSERT,      # a removed address is held
        # Read for the overview; a new or deleted mailbox forgets its login's old usage.
        "quota_usage": "SELECT, DELETE",
        "dovecot_logins": _READ,
        # The customer's settings and rules (a removed address is also cut from others'
        # forwards and filters).
        "mailbox_rules": _CHANGE,
        "sender_list_entries": _CHANGE,
        "delivery_folders": _CHANGE,
        "forwards": _CHANGE,
        "vacations": _CHANGE,
        "sms_settings": _CHANGE,
        "sms_rules": _CHANGE,
        "sms_outbox": _READ,
        "collect_accounts": _CHANGE,
        "fax_numbers": _CHANGE,
        # Portal logins: credentials, second factor, links, growing delays, the audit log.
        "customer_credentials": _UPSERT,
        "recovery_codes": _UPSERT,
        "portal_tokens": _UPSERT,
        "login_failures": _CHANGE,
        "auth_blocks": _APPEND,            # the defence shared with Dovecot's logins
        "auth_known_clients": _UPSERT,
        "audit_events": _APPEND,
        # The API's tokens: checked, and their last use noted (the CLI makes them).
        "api_tokens": _READ,
        "api_tokens (last_used_at)": "UPDATE",
        # "Where did my mail go?" and the API's log search: the log, read only.
        "smtp_transactions": _READ,
        "smtp_recipients": _READ,
        "delivery_attempts": _READ,
        "queue_links": _READ,
        "smtp_sessions": _READ,
        "smtp_auth_attempts": _READ,
        "milter_connections": _READ,
    },
    # `mailbasic managesieve`: a logged-in client's scripts (managesieve/scripts.py), the
    # filters and the vacation they set through the rules service, as the portal would.
    ComponentRole.MANAGESIEVE: {
        "domains": _READ,
        "addresses": _READ,
        # The ORM loads the whole row (the hash among its columns), as for the portal.
        # SELECT ... FOR UPDATE (one command at a time per mailbox) needs an UPDATE
        # right on some column: the one that changes nothing that matters.
        "mailboxes": _READ,
        "mailboxes (created_at)": "UPDATE",
        "mailbox_rules": _UPSERT,
        # Saving filters records the folders they file into (only ever added).
        "delivery_folders": _APPEND,
        "vacations": _CHANGE,           # a script without vacation turns it off
        "sieve_scripts": _CHANGE,
    },
    # SOGo authenticates on its SQL user source (migration 0018) and keeps its own data
    # (contacts, calendars, preferences, sessions) in tables it creates itself, in the
    # schema SOGO_SCHEMA that it owns (below), never in public.
    ComponentRole.SOGO: {
        "sogo_users": _READ,
    },
}

# The schema SOGo's tables live in. It is named after its role, so PostgreSQL's default
# search_path ("$user", public) finds both its tables and the view sogo_users.
SOGO_SCHEMA = ComponentRole.SOGO.value

# The roles the admin role is a member of (the deployment grants them): SOGo's, whose
# tables only it creates.
ADMIN_MEMBER_OF = (ComponentRole.SOGO,)


# Functions a role may call (PUBLIC may call none of mailbasic's: migration 0016).
FUNCTIONS: dict[ComponentRole, tuple[str, ...]] = {
    ComponentRole.DOVECOT: ("dovecot_app_password_login(text, text, text, text)",),
}


def missing_roles(connection: Connection, names: list[str]) -> list[str]:
    existing = set(connection.scalars(text(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": names}))
    return [name for name in names if name not in existing]


def grant(connection: Connection) -> None:
    """Give each component role exactly its rights (idempotent, in the caller's
    transaction)."""
    missing = missing_roles(connection, [role.value for role in ComponentRole])
    if missing:
        raise ConfigError(f"database roles missing: {', '.join(missing)}; the deployment "
                          "creates them (LOGIN, each with its own password) before "
                          "`mailbasic db upgrade`")
    for role, grants in GRANTS.items():
        connection.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
        connection.execute(text(
            f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"'))
        connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        for table, privileges in grants.items():
            if "(" in table:  # column privileges: "table (a, b)"
                name, columns = table.split(" ", 1)
                connection.execute(text(f'GRANT {privileges} {columns} ON {name} '
                                        f'TO "{role}"'))
            else:
                connection.execute(text(f'GRANT {privileges} ON {table} TO "{role}"'))
        for sequence in _sequences_of(connection, grants):
            connection.execute(text(f'GRANT USAGE ON SEQUENCE {sequence} TO "{role}"'))
        connection.execute(text(
            f'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM "{role}"'))
        for function in FUNCTIONS.get(role, ()):
            connection.execute(text(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"'))
    # Nobody but the owner creates objects (PostgreSQL 15 already denies PUBLIC).
    connection.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    _sogo_schema(connection)


def _sogo_schema(connection: Connection) -> None:
    """SOGo's own schema, owned by its role. The admin role is a member of that role (the
    deployment grants it): it may create the schema for it, and `jobs inactivity` may
    delete a mailbox's contacts and calendars from SOGo's tables."""
    member = connection.scalar(text("SELECT pg_has_role(:role, 'MEMBER')"),
                               {"role": ComponentRole.SOGO.value})
    if not member:
        raise ConfigError(f"the admin role is not a member of {ComponentRole.SOGO.value}: "
                          f"the deployment grants it (GRANT {ComponentRole.SOGO.value} TO "
                          "the admin role) before `mailbasic db upgrade`")
    sogo = ComponentRole.SOGO.value
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SOGO_SCHEMA}" '
                            f'AUTHORIZATION "{sogo}"'))
    # A restored backup (pg_restore --no-owner) made the schema and SOGo's tables the
    # admin's: SOGo could no longer write them. They are its role's again.
    connection.execute(text(f'ALTER SCHEMA "{SOGO_SCHEMA}" OWNER TO "{sogo}"'))
    for table in connection.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
            " AND tableowner <> :role"), {"schema": SOGO_SCHEMA, "role": sogo}):
        connection.execute(text(f'ALTER TABLE "{SOGO_SCHEMA}"."{table}" OWNER TO "{sogo}"'))


def _sequences_of(connection: Connection, grants: dict[str, str]) -> list[str]:
    """The serial columns' sequences of the tables a role inserts into."""
    tables = [table for table, privileges in grants.items() if "INSERT" in privileges]
    return [name for name in connection.scalars(text(
        "SELECT pg_get_serial_sequence(table_name, column_name)"
        " FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = ANY(:tables)"),
        {"tables": tables}) if name]
