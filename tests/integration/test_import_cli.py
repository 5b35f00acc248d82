"""`mailbasic import`: customers in bulk through the service layer, one transaction per
customer, refusals naming their line, and a dry run that writes nothing."""

import json
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from mailbasic import db
from mailbasic.cli import main
from mailbasic.config import render_settings
from mailbasic.passwords import verify_password
from mailbasic.schema import Address, Customer, Mailbox


def counts(engine):
    with db.transaction(engine) as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Customer, Mailbox, Address))


def hashes(engine):
    with db.transaction(engine) as session:
        rows = session.execute(select(Address.local_part, Mailbox.password_hash)
                               .join(Mailbox, Mailbox.id == Address.mailbox_id)
                               .where(Address.is_primary)).all()
    return {local_part: stored for local_part, stored in rows}


@pytest.fixture
def domains(cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("domain", "add", "example.org")
    return cli


def jsonl(*records) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


GOOD = [
    {"customer": "alice", "domain": "example.net", "password": "alice secret", "quota": "2G",
     "mailboxes": [{"address": "alice.work@example.org", "password": "work secret",
                    "quota": "512M"}],
     "addresses": [{"address": "info1@example.net"},
                   {"address": "sales@example.org", "mailbox": "alice.work@example.org"}]},
    {"customer": "bobby", "domain": "example.org", "password": "bobby secret"},
    {"customer": "carla", "domain": "example.net", "password": "carla secret",
     "addresses": [{"address": "Carla.Smith@example.net"}]},
]


def test_a_good_json_lines_file(domains, engine, tmp_path):
    path = tmp_path / "customers.jsonl"
    path.write_text(jsonl(*GOOD))
    result = domains.ok("import", str(path))
    assert result.stdout.splitlines() == [
        "line 1: customer alice added with mailboxes alice@example.net "
        "alice.work@example.org and 2 addresses",
        "line 2: customer bobby added with mailbox bobby@example.org",
        "line 3: customer carla added with mailbox carla@example.net and 1 address",
        "3 customers created, 0 refused"]
    assert result.stderr == ""
    alice = json.loads(domains.ok("customer", "show", "alice", "--json").stdout)
    assert [(m["name"], m["quota_bytes"], m["addresses"]) for m in alice["mailboxes"]] == [
        ("alice@example.net", 2 * 1024**3, ["alice@example.net", "info1@example.net"]),
        ("alice.work@example.org", 512 * 1024**2,
         ["alice.work@example.org", "sales@example.org"])]
    carla = json.loads(domains.ok("mailbox", "show", "carla@example.net", "--json").stdout)
    assert carla["quota_bytes"] == 1024**3  # mailbox.default_quota
    assert carla["addresses"] == ["carla@example.net", "Carla.Smith@example.net"]
    stored = hashes(engine)
    assert verify_password("alice secret", stored["alice"])
    assert verify_password("work secret", stored["alice.work"])
    assert verify_password("bobby secret", stored["bobby"])
    assert counts(engine) == (3, 4, 7)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_passwords_are_stored_at_the_configured_cost(domains, settings, engine, tmp_path,
                                                     jobs):
    domains.config.write_text(render_settings(replace(settings, bcrypt_cost=5)))
    path = tmp_path / "customers.jsonl"
    path.write_text(jsonl(*GOOD))
    domains.ok("import", "--jobs", jobs, str(path))
    stored = hashes(engine)
    assert len(stored) == 4
    for local_part, password_hash in stored.items():
        assert password_hash.startswith("{BLF-CRYPT}$2b$05$"), local_part


def test_bad_lines_are_named_and_leave_nothing_half_created(domains, engine, tmp_path):
    domains.ok("customer", "add", "taken", "--domain", "example.net", "--password-stdin",
               input="taken secret\n")
    before = counts(engine)
    path = tmp_path / "customers.jsonl"
    path.write_text(jsonl(
        GOOD[1],
        # refused at its last step: the customer and its mailboxes must not stay
        {"customer": "dora1", "domain": "example.net", "password": "dora secret",
         "mailboxes": [{"address": "dora.two@example.org", "password": "dora secret"}],
         "addresses": [{"address": "taken@example.net"}]},
        {"customer": "eddie", "domain": "elsewhere.example", "password": "eddie secret"},
        {"customer": "frank", "domain": "example.net", "password": "short"},
        {"customer": "gina1", "domain": "example.net", "password": "gina secret",
         "quota": "lots"},
        {"customer": "abuse", "domain": "example.net", "password": "abuse secret"},
        {"customer": "bobby", "domain": "example.net", "password": "bobby secret"},
    ) + '{"customer": "broken"\n' + jsonl(GOOD[2]))
    result = domains("import", str(path))
    assert result.exit_code == 5  # the first refusal's: the address is taken
    assert result.stderr.splitlines() == [
        "mailbasic: error: line 2: the address taken@example.net is already taken",
        "mailbasic: error: line 3: domain elsewhere.example is not hosted here",
        "mailbasic: error: line 4: password too short: at least 8 characters",
        "mailbasic: error: line 5: not a size: 'lots' (examples: 1G, 500M, 20971520)",
        "mailbasic: error: line 6: 'abuse' is reserved for the service's role addresses "
        "(RFC 2142, service.reserved_local_parts) and cannot be taken; choose another name",
        "mailbasic: error: line 7: customer bobby already exists",
        "mailbasic: error: line 8: not JSON: Expecting ',' delimiter at column 22",
    ]
    assert result.stdout.splitlines() == [
        "line 1: customer bobby added with mailbox bobby@example.org",
        "line 9: customer carla added with mailbox carla@example.net and 1 address",
        "2 customers created, 7 refused"]
    # bobby and carla with their mailbox and addresses, nothing of the others.
    assert counts(engine) == (before[0] + 2, before[1] + 2, before[2] + 3)
    names = [view["name"] for view in json.loads(domains.ok("customer", "list",
                                                            "--json").stdout)]
    assert names == ["bobby", "carla", "taken"]


def test_the_refusals_are_the_single_commands_own(domains, tmp_path):
    """Same exit code and text as `customer add` for the same input."""
    domains.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
               input="alice secret\n")
    single = domains.refused(5, "customer", "add", "alice", "--domain", "example.org",
                             "--password-stdin", input="other secret\n")
    path = tmp_path / "again.jsonl"
    path.write_text(jsonl({"customer": "alice", "domain": "example.org",
                           "password": "other secret"}))
    result = domains("import", str(path))
    assert result.exit_code == 5
    assert result.stderr == single.replace("mailbasic: error: ",
                                           "mailbasic: error: line 1: ") + "\n"


def test_a_third_mailbox_is_the_limit_and_its_row_is_named(domains, engine, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer,domain,mailbox,password,quota,addresses\n"
                    "alice,example.net,,alice secret,,\n"
                    "alice,,alice.two@example.org,alice secret,,\n"
                    "alice,,alice.three@example.org,alice secret,,\n")
    result = domains("import", str(path))
    assert result.exit_code == 6
    assert result.stderr == ("mailbasic: error: line 4: customer alice already has 2 "
                             "mailboxes\n")
    assert counts(engine) == (0, 0, 0)


def test_dry_run_checks_every_record_and_writes_nothing(domains, engine, tmp_path):
    path = tmp_path / "customers.jsonl"
    path.write_text(jsonl(*GOOD, GOOD[1],  # the second bobby: refused as in a real run
                          {"customer": "eddie", "domain": "nowhere.example",
                           "password": "eddie secret"}))
    result = domains("import", "--dry-run", str(path))
    assert result.exit_code == 5
    assert result.stderr.splitlines() == [
        "mailbasic: error: line 4: customer bobby already exists",
        "mailbasic: error: line 5: domain nowhere.example is not hosted here"]
    assert result.stdout.splitlines()[-1] == ("3 customers would be created, 2 refused; "
                                              "dry run: nothing was written")
    assert "line 1: customer alice added with mailboxes" in result.stdout
    assert counts(engine) == (0, 0, 0)
    path.write_text(jsonl(*GOOD))
    assert domains.ok("import", "--dry-run", str(path)).stdout.endswith(
        "3 customers would be created, 0 refused; dry run: nothing was written\n")
    assert counts(engine) == (0, 0, 0)
    domains.ok("import", str(path))
    assert counts(engine) == (3, 4, 7)


def test_a_csv_file_one_row_per_mailbox(domains, engine, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer,domain,mailbox,password,quota,addresses\n"
                    "alice,example.net,,alice secret,2G,info1@example.net\n"
                    "alice,,alice.work@example.org,work secret,512M,"
                    "sales@example.org;billing@example.org\n"
                    "\n"
                    "bobby,example.org,,bobby secret,,\n")
    result = domains.ok("import", str(path))
    assert result.stdout.splitlines() == [
        "line 2: customer alice added with mailboxes alice@example.net "
        "alice.work@example.org and 3 addresses",
        "line 5: customer bobby added with mailbox bobby@example.org",
        "2 customers created, 0 refused"]
    alice = json.loads(domains.ok("customer", "show", "alice", "--json").stdout)
    assert [(m["name"], m["quota_bytes"], m["addresses"]) for m in alice["mailboxes"]] == [
        ("alice@example.net", 2 * 1024**3, ["alice@example.net", "info1@example.net"]),
        ("alice.work@example.org", 512 * 1024**2,
         ["alice.work@example.org", "sales@example.org", "billing@example.org"])]
    assert verify_password("work secret", hashes(engine)["alice.work"])
    assert counts(engine) == (2, 3, 6)


def test_standard_input_needs_a_format(domains, engine):
    result = domains("import", "-", input=jsonl(GOOD[1]))
    assert result.exit_code == 2
    assert "give --format jsonl or --format csv" in result.stderr
    assert counts(engine) == (0, 0, 0)
    result = domains.ok("import", "--format", "csv", "-",
                        input="customer,domain,password\nbobby,example.org,bobby secret\n")
    assert result.stdout.endswith("1 customers created, 0 refused\n")
    assert counts(engine) == (1, 1, 1)


def test_an_unreachable_database_stops_the_import(domains, tmp_path):
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text('[database]\nurl = "postgresql+psycopg2://x:y@127.0.0.1:1/z"\n')
    path = tmp_path / "customers.jsonl"
    path.write_text(jsonl(*GOOD))
    result = domains.runner.invoke(main, ["--config", str(unreachable), "import",
                                          str(path)])
    assert result.exit_code == 8
    lines = result.stderr.splitlines()
    assert lines[0].startswith("mailbasic: error: line 1: database unavailable")
    assert lines[-1].startswith("mailbasic: error: database unavailable")
    assert result.stdout == ("0 customers created, 1 refused; stopped: the database is "
                             "unavailable\n")
