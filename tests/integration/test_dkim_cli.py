"""`mailbasic dkim ...` against the real PostgreSQL: a key's life (published, active,
published again when replaced, retired), the records it prints, its refusals, the audit,
and the constraints that hold even when the CLI is bypassed."""

import json
import re
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

DOMAIN = "example.net"
MONTH = f"mb{date.today():%Y%m}"
ZONE_LINE = re.compile(r'^(?P<name>\S+) IN TXT (?P<strings>("[^"]{1,255}" ?)+) ; '
                       r'(?P<state>\w+) (?P<algorithm>\S+)$')


@pytest.fixture
def hosted(cli):
    cli.ok("domain", "add", DOMAIN)
    return cli


def keys(cli):
    return {view["selector"]: view for view in
            json.loads(cli.ok("dkim", "show", DOMAIN, "--json").stdout)}


def test_generate_prints_the_record_to_publish_and_the_key_does_not_sign_yet(hosted):
    result = hosted.ok("dkim", "generate", "Example.NET")
    assert result.stdout.startswith(f'{MONTH}._domainkey.example.net. IN TXT "v=DKIM1; '
                                     'k=rsa; p=')
    assert f"mailbasic dkim activate example.net {MONTH}" in result.stderr
    view = keys(hosted)[MONTH]
    assert (view["state"], view["algorithm"]) == ("published", "rsa-sha256")
    assert view["record"] == result.stdout.strip()
    assert "private" not in json.dumps(view).lower()


def test_show_prints_zone_file_lines_in_strings_of_255_bytes(hosted):
    hosted.ok("dkim", "generate", DOMAIN)
    hosted.ok("dkim", "generate", DOMAIN, "--algorithm", "ed25519", "--selector", "ed1")
    hosted.ok("dkim", "activate", DOMAIN, "ed1")
    lines = hosted.ok("dkim", "show", DOMAIN).stdout.splitlines()
    assert len(lines) == 2
    found = {match["name"]: match for match in map(ZONE_LINE.match, lines)}
    rsa_line, ed_line = found[f"{MONTH}._domainkey.example.net."], found[
        "ed1._domainkey.example.net."]
    assert (rsa_line["state"], rsa_line["algorithm"]) == ("published", "rsa-sha256")
    assert (ed_line["state"], ed_line["algorithm"]) == ("active", "ed25519-sha256")
    strings = re.findall(r'"([^"]*)"', rsa_line["strings"])
    assert len(strings) == 2 and len(strings[0]) == 255
    assert "".join(strings) == keys(hosted)[MONTH]["txt"]


def test_rotation_keeps_the_replaced_key_published_until_retired(hosted):
    hosted.ok("dkim", "generate", DOMAIN, "--selector", "old")
    assert "old of example.net active (rsa-sha256)" in hosted.ok(
        "dkim", "activate", DOMAIN, "old").stdout
    hosted.ok("dkim", "generate", DOMAIN, "--selector", "new")
    assert "old stays published" in hosted.ok("dkim", "activate", DOMAIN, "NEW").stdout
    views = keys(hosted)
    assert (views["old"]["state"], views["new"]["state"]) == ("published", "active")
    assert views["old"]["replaced_at"] is not None
    assert "active key" in hosted.refused(9, "dkim", "retire", DOMAIN, "new")
    hosted.ok("dkim", "retire", DOMAIN, "old")
    assert set(keys(hosted)) == {"new"}
    assert "retired and cannot sign" in hosted.refused(9, "dkim", "activate", DOMAIN, "old")
    hosted.ok("dkim", "retire", DOMAIN, "old")       # again: nothing changes
    hosted.ok("dkim", "activate", DOMAIN, "new")     # likewise


def test_the_default_selector_is_never_one_taken(hosted):
    hosted.ok("dkim", "generate", DOMAIN)
    hosted.ok("dkim", "generate", DOMAIN)
    hosted.ok("dkim", "generate", DOMAIN, "--algorithm", "ed25519")
    assert set(keys(hosted)) == {MONTH, f"{MONTH}-2", f"{MONTH}e"}


def test_refusals_are_clear(hosted):
    assert "example.org is not hosted" in hosted.refused(4, "dkim", "generate",
                                                         "example.org")
    assert "example.org is not hosted" in hosted.refused(4, "dkim", "show", "example.org")
    assert "no DKIM selector nope" in hosted.refused(4, "dkim", "activate", DOMAIN, "nope")
    assert "no DKIM selector nope" in hosted.refused(4, "dkim", "retire", DOMAIN, "nope")
    assert "not one DNS label" in hosted.refused(7, "dkim", "generate", DOMAIN,
                                                 "--selector", "a_b")
    hosted.ok("dkim", "generate", DOMAIN, "--selector", "taken")
    assert "taken of example.net exists" in hosted.refused(5, "dkim", "generate", DOMAIN,
                                                           "--selector", "Taken")
    assert hosted("dkim", "generate", DOMAIN, "--algorithm", "dsa").exit_code == 2
    assert hosted.ok("dkim", "show", DOMAIN).stdout.count("IN TXT") == 1


def test_each_change_is_audited_without_the_key(hosted, engine):
    hosted.ok("dkim", "generate", DOMAIN, "--selector", "one")
    hosted.ok("dkim", "activate", DOMAIN, "one")
    hosted.ok("dkim", "show", DOMAIN)
    with engine.connect() as connection:
        events = connection.execute(text(
            "SELECT action, detail::text FROM audit_events ORDER BY id")).all()
    dkim_events = [(action, detail) for action, detail in events if action.startswith("dkim")]
    assert [action for action, _ in dkim_events] == ["dkim generate", "dkim activate"]
    assert all("PRIVATE" not in detail for _, detail in dkim_events)


def test_removing_the_domain_removes_its_keys(hosted, engine):
    hosted.ok("dkim", "generate", DOMAIN)
    hosted.ok("domain", "remove", DOMAIN)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM dkim_keys")) == 0


def _insert(connection, selector, state="published", **columns):
    values = {"selector": selector, "state": state, "private_key": "-----BEGIN X-----",
              "public_key": "AAAA", "activated_at": None, "replaced_at": None,
              "retired_at": None, **columns}
    connection.execute(text(
        "INSERT INTO dkim_keys (domain_id, selector, algorithm, state, private_key,"
        " public_key, activated_at, replaced_at, retired_at) SELECT id, :selector,"
        " 'rsa-sha256', :state, :private_key, :public_key, :activated_at, :replaced_at,"
        " :retired_at FROM domains WHERE name = 'example.net'"), values)


@pytest.mark.parametrize(("selector", "state", "columns"), [
    ("bad_selector", "published", {}),
    ("ok", "active", {}),                                         # active, never activated
    ("ok", "retired", {"retired_at": "2100-01-01T00:00Z"}),       # retired with its key
    ("ok", "published", {"retired_at": "2026-01-01T00:00Z"}),     # retired_at, not retired
    ("ok", "published", {"replaced_at": "2026-01-01T00:00Z"}),    # replaced, never active
    ("ok", "published", {"private_key": "secret"}),               # not PEM
    ("ok", "published", {"public_key": "not base64!"}),
    ("ok", "published", {"activated_at": "2000-01-01T00:00Z"}),   # before its creation
])
def test_the_database_holds_the_rules_without_the_cli(hosted, engine, selector, state,
                                                      columns):
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _insert(connection, selector, state, **columns)


def test_at_most_one_active_key_per_domain_and_algorithm(hosted, engine):
    with pytest.raises(IntegrityError), engine.begin() as connection:
        for selector in ("one", "two"):
            _insert(connection, selector, "active", activated_at="2100-01-01T00:00Z")
