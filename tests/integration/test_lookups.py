"""`mailbasic lookups`: Postfix's account tables, answered from the lookup views with the
Postfix role's rights, on a real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url

from mailbasic.directory import directory_engine
from mailbasic.lookups import LookupTables
from mailbasic.schema.privileges import ComponentRole

PASSWORD = "a long secret\n"


@pytest.fixture
def tables(postgres, settings, cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("domain", "add", "example.org")
    cli.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
           input=PASSWORD)
    cli.ok("customer", "add", "desk.roles", "--domain", "example.net", "--password-stdin",
           input=PASSWORD)
    cli.ok("address", "add", "alice.smith@example.org", "--mailbox", "alice@example.net")
    cli.ok("domain", "catch-all", "example.org", "alice@example.net")
    url = make_url(settings.database_url).set(
        username=ComponentRole.POSTFIX.value,
        password=postgres.postgres.component_passwords[ComponentRole.POSTFIX.value])
    as_postfix = replace(settings, database_url=url.render_as_string(hide_password=False),
                         role_mailbox="desk.roles@example.net", policy_cache_seconds=0)
    engine = directory_engine(as_postfix)
    yield LookupTables(engine, as_postfix)
    engine.dispose()


@pytest.mark.parametrize("request_, answer", [
    ("domain example.net", "OK yes"),
    ("domain EXAMPLE.org", "OK yes"),
    ("domain elsewhere.example", "NOTFOUND "),
    ("mailbox alice@example.net", "OK yes"),
    ("mailbox alice.smith@example.org", "NOTFOUND "),       # an alias, not a mailbox
    ("alias alice.smith@example.org", "OK alice@example.net"),
    ("alias alice@example.net", "OK alice@example.net"),
    ("alias @example.org", "OK alice@example.net"),           # the catch-all
    ("alias @example.net", "NOTFOUND "),
    ("alias nobody@example.net", "NOTFOUND "),
    # Postfix asks a socketmap with the full address only: detail and catch-all here.
    ("alias anything.at.all@example.org", "OK alice@example.net"),
    ("alias alice.smith+news@example.org", "OK alice+news@example.net"),
    ("alias alice+ftoken@example.net", "OK alice+ftoken@example.net"),
    ("mailbox alice+ftoken@example.net", "OK yes"),
    ("sender alice.smith+x@example.org", "OK alice@example.net"),
    ("alias postmaster@example.org", "OK desk.roles@example.net"),
    ("alias abuse@example.net", "OK desk.roles@example.net"),
    ("alias postmaster@mail.example.net", "OK desk.roles@example.net"),  # bare postmaster
    ("alias postmaster@elsewhere.example", "NOTFOUND "),
    ("sender alice.smith@example.org", "OK alice@example.net"),
    ("sender someone@example.org", "NOTFOUND "),             # never the catch-all
    ("nonsense key", "PERM no table named 'nonsense'"),
])
def test_tables(tables, request_, answer):
    assert tables.lookup(request_) == answer
