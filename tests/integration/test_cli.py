"""The admin CLI against a real PostgreSQL: every command, every refusal and its exit code."""

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbasic import accounts, db
from mailbasic.cli import main
from mailbasic.config import render_settings, service_host_names
from mailbasic.errors import InvalidInput
from mailbasic.passwords import verify_password
from mailbasic.schema import Address, Customer, Mailbox
from mailbasic.schema.rules import Forward
from mailbasic.srs import srs_domain

PASSWORD = "a long secret\n"


@pytest.fixture
def hosted(cli):
    cli.ok("domain", "add", "example.net")
    cli.ok("domain", "add", "Example.ORG")
    cli.ok("customer", "add", "alice", "--domain", "example.net", "--password-stdin",
           input=PASSWORD)
    return cli


def count(engine, model):
    with db.transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_customer_add_creates_first_mailbox_with_primary_address(hosted, engine):
    shown = json.loads(hosted.ok("customer", "show", "alice", "--json").stdout)
    assert shown["name"] == "alice"
    [mailbox] = shown["mailboxes"]
    assert mailbox["name"] == "alice@example.net"
    assert mailbox["addresses"] == ["alice@example.net"]
    assert mailbox["quota_bytes"] == 1024**3
    assert mailbox["receiving"] == "active"
    with db.transaction(engine) as session:
        stored = session.scalar(select(Mailbox.password_hash))
    assert verify_password("a long secret", stored)


def test_domains_are_stored_lowercase_and_listed(hosted):
    assert json.loads(hosted.ok("domain", "list", "--json").stdout) == [
        {"name": "example.net", "catch_all": None}, {"name": "example.org", "catch_all": None}]


def test_second_mailbox_and_the_limit_of_two(hosted):
    hosted.ok("mailbox", "add", "alice", "alice.work@example.org", "--password-stdin",
              input=PASSWORD)
    line = hosted.refused(6, "mailbox", "add", "alice", "alice.third@example.org",
                   "--password-stdin", input=PASSWORD)
    assert "already has 2 mailboxes" in line
    listed = hosted.ok("customer", "list").stdout
    assert "alice  alice@example.net alice.work@example.org" in listed


def test_six_addresses_per_mailbox(hosted, engine):
    for number in range(1, 6):
        hosted.ok("address", "add", f"alias{number}@example.net",
                  "--mailbox", "alice@example.net")
    line = hosted.refused(6, "address", "add", "alias6@example.net",
                   "--mailbox", "alice@example.net")
    assert "already has 6 addresses" in line
    assert count(engine, Address) == 6


@pytest.mark.parametrize("local_part, reason", [
    ("abcd", "5 to 30 characters"),
    ("a" * 31, "5 to 30 characters"),
    ("9lives", "start with a letter"),
    ("über.mann", "start with a letter"),
    ("hans.müller", "only letters a-z"),
    ("with_underscore", "only letters a-z"),
    ("with+plus", "only letters a-z"),
])
def test_address_syntax_refusals(hosted, local_part, reason):
    line = hosted.refused(7, "address", "add", f"{local_part}@example.net",
                   "--mailbox", "alice@example.net")
    assert reason in line


def test_taken_address_is_refused_ignoring_case(hosted):
    hosted.ok("address", "add", "Alice.Smith@example.net", "--mailbox", "alice@example.net")
    line = hosted.refused(5, "address", "add", "alice.smith@EXAMPLE.net",
                   "--mailbox", "alice@example.net")
    assert "alice.smith@example.net is already taken" in line
    line = hosted.refused(5, "customer", "add", "ALICE", "--domain", "example.org",
                   "--password-stdin", input=PASSWORD)
    assert "customer ALICE already exists" in line


def test_move_address_between_the_customers_mailboxes(hosted):
    hosted.ok("mailbox", "add", "alice", "alice.work@example.org", "--password-stdin",
              input=PASSWORD)
    hosted.ok("address", "add", "billing@example.org", "--mailbox", "alice@example.net")
    hosted.ok("address", "move", "billing@example.org", "--mailbox", "alice.work@example.org")
    listed = json.loads(hosted.ok("address", "list", "--mailbox", "alice.work@example.org",
                                  "--json").stdout)
    assert [view["address"] for view in listed] == ["alice.work@example.org",
                                                    "billing@example.org"]


def test_move_refusals(hosted):
    hosted.ok("customer", "add", "bobby", "--domain", "example.net", "--password-stdin",
              input=PASSWORD)
    hosted.ok("address", "add", "shared@example.net", "--mailbox", "alice@example.net")
    assert "another customer" in hosted.refused(9, "address", "move", "shared@example.net",
                                         "--mailbox", "bobby@example.net")
    assert "primary address" in hosted.refused(9, "address", "move", "alice@example.net",
                                        "--mailbox", "bobby@example.net")
    assert "already in mailbox" in hosted.refused(9, "address", "move", "shared@example.net",
                                           "--mailbox", "alice@example.net")


def test_primary_address_cannot_be_removed_but_aliases_can(hosted, engine):
    assert "primary address" in hosted.refused(9, "address", "remove", "alice@example.net")
    hosted.ok("address", "add", "alias1@example.net", "--mailbox", "alice@example.net")
    hosted.ok("address", "remove", "alias1@example.net")
    assert count(engine, Address) == 1


def test_not_found_refusals(hosted):
    assert "no customer named nobody" in hosted.refused(4, "customer", "show", "nobody")
    assert "not hosted" in hosted.refused(4, "customer", "add", "bobby", "--domain",
                                   "elsewhere.example", "--password-stdin", input=PASSWORD)
    assert "does not exist" in hosted.refused(4, "mailbox", "show", "nobody@example.net")
    assert "does not exist" in hosted.refused(4, "address", "remove", "nobody@example.net")


def test_a_mailbox_is_named_by_its_primary_address(hosted):
    hosted.ok("address", "add", "alias1@example.net", "--mailbox", "alice@example.net")
    line = hosted.refused(4, "mailbox", "show", "alias1@example.net")
    assert "address of the mailbox alice@example.net" in line


def test_failed_customer_add_leaves_nothing_written(hosted, engine):
    before = (count(engine, Customer), count(engine, Mailbox), count(engine, Address))
    assert "too short" in hosted.refused(7, "customer", "add", "bobby", "--domain",
                                  "example.net", "--password-stdin", input="short\n")
    assert "no password" in hosted.refused(7, "customer", "add", "bobby", "--domain",
                                    "example.net", "--password-stdin", input="")
    after = (count(engine, Customer), count(engine, Mailbox), count(engine, Address))
    assert before == after


def test_passwd_quota_deactivate_reactivate(hosted, engine):
    hosted.ok("mailbox", "passwd", "alice@example.net", "--password-stdin",
              input="another secret\n")
    with db.transaction(engine) as session:
        assert verify_password("another secret", session.scalar(select(Mailbox.password_hash)))
    hosted.ok("mailbox", "quota", "alice@example.net", "2G")
    assert "not a size" in hosted.refused(7, "mailbox", "quota", "alice@example.net", "lots")
    hosted.ok("mailbox", "deactivate", "alice@example.net", "--reason", "no download in 90 days")
    shown = json.loads(hosted.ok("mailbox", "show", "alice@example.net", "--json").stdout)
    assert shown["quota_bytes"] == 2 * 1024**3
    assert shown["receiving"] == "deactivated"
    assert shown["deactivated_reason"] == "no download in 90 days"
    assert shown["deactivated_at"]
    assert "already deactivated" in hosted.refused(9, "mailbox", "deactivate",
                                            "alice@example.net")
    hosted.ok("mailbox", "reactivate", "alice@example.net")
    shown = json.loads(hosted.ok("mailbox", "show", "alice@example.net", "--json").stdout)
    assert (shown["receiving"], shown["deactivated_at"]) == ("active", None)
    assert "mailbox" in hosted.ok("mailbox", "show", "alice@example.net").stdout


def test_catch_all_on_and_off(hosted):
    hosted.ok("domain", "catch-all", "example.org", "alice@example.net")
    assert json.loads(hosted.ok("domain", "list", "--json").stdout)[1]["catch_all"] == \
        "alice@example.net"
    assert "either" in hosted.refused(7, "domain", "catch-all", "example.org")
    hosted.ok("domain", "catch-all", "example.org", "--off")
    assert json.loads(hosted.ok("domain", "list", "--json").stdout)[1]["catch_all"] is None


def test_delete_customer_asks_and_removes_everything(hosted, engine):
    hosted.ok("domain", "catch-all", "example.org", "alice@example.net")
    assert hosted("customer", "delete", "alice", input="n\n").exit_code != 0
    assert count(engine, Customer) == 1
    hosted.ok("customer", "delete", "alice", "--yes")
    assert (count(engine, Customer), count(engine, Mailbox), count(engine, Address)) == (0, 0, 0)
    assert json.loads(hosted.ok("domain", "list", "--json").stdout)[1]["catch_all"] is None


def test_domain_refusals(hosted):
    assert "already hosted" in hosted.refused(5, "domain", "add", "EXAMPLE.net")
    assert "not a domain name" in hosted.refused(7, "domain", "add", "not_a domain")


def test_bad_config_and_unreachable_database(cli, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[service]\ntypo = 1\n")
    result = cli.runner.invoke(main,
                               ["--config", str(broken), "domain", "list"])
    assert result.exit_code == 3
    assert "unknown setting service.typo" in result.stderr
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text('[database]\nurl = "postgresql+psycopg2://x:y@127.0.0.1:1/z"\n')
    result = cli.runner.invoke(main,
                               ["--config", str(unreachable), "domain", "list"])
    assert result.exit_code == 8
    assert result.stderr.startswith("mailbasic: error: database unavailable")


def test_config_commands_write_the_lookup_files(hosted, tmp_path):
    output = hosted.ok("config", "postfix").stdout
    assert "virtual_alias_maps = socketmap:unix:" in output and ":alias" in output
    printed = hosted.ok("config", "dovecot").stdout
    assert "# ==> dovecot-sql.conf.ext <==" in printed
    assert "passdb {" in printed


def test_config_commands_print_json_for_the_deployment(hosted):
    postfix = json.loads(hosted.ok("config", "postfix", "--json").stdout)
    assert re.search(r"^virtual_mailbox_domains = socketmap:unix:/\S+/lookups\.sock:domain$",
                     postfix["main_cf"], re.MULTILINE)
    dovecot = json.loads(hosted.ok("config", "dovecot", "--json").stdout)
    assert "args = /etc/dovecot/dovecot-sql.conf.ext" in dovecot["files"][
        "auth-mailbasic.conf.ext"]
    assert "table = dovecot_logins" in dovecot["files"]["dovecot-dict-sql.conf.ext"]


# --- database URLs -------------------------------------------------------------------

def run_with_database_url(cli, url, *arguments):
    return cli.runner.invoke(main, ["--config", str(cli.config), *arguments],
                             env={"MAILBASIC_CONFIG": None, "MAILBASIC_DATABASE_URL": url})


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_the_documented_postgresql_url_form_works(cli, settings, scheme):
    # SQLAlchemy 2.1 alone would look for psycopg 3 here, which is not installed.
    plain = settings.database_url.replace("postgresql+psycopg2://", f"{scheme}://", 1)
    result = run_with_database_url(cli, plain, "domain", "add", "example.net")
    assert result.exit_code == 0, result.stderr
    assert run_with_database_url(cli, plain, "domain", "list").stdout == "example.net\n"


@pytest.mark.parametrize("url", [
    "mysql://mailbasic:s3cret@127.0.0.1/mailbasic",
    "sqlite:////var/lib/mailbasic.db",
    "postgresql+asyncpg://mailbasic:s3cret@127.0.0.1/mailbasic",
    "mailbasic:s3cret@127.0.0.1/mailbasic",
    "postgresql://mailbasic:s3cret@127.0.0.1:port/mailbasic",
])
def test_other_database_urls_are_one_config_error_line(cli, url):
    result = run_with_database_url(cli, url, "domain", "list")
    assert result.exit_code == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("mailbasic: error: MAILBASIC_DATABASE_URL: database.url ")
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in line
    assert "s3cret" not in result.output


def test_the_installed_command_prints_one_line_for_a_bad_database_url(tmp_path):
    command = Path(sys.executable).with_name("mailbasic")
    environment = {**os.environ, "MAILBASIC_DATABASE_URL": "mysql://u:s3cret@db/mailbasic"}
    environment.pop("MAILBASIC_CONFIG", None)
    finished = subprocess.run([str(command), "domain", "list"], env=environment, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 3
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()  # no traceback
    assert line.startswith("mailbasic: error: MAILBASIC_DATABASE_URL: database.url must be "
                           "a PostgreSQL URL")


# --- sizes ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["99999999999999999999", "9223372036854775808", "1025T"])
def test_quota_above_the_ceiling_is_invalid_input(hosted, size):
    line = hosted.refused(7, "mailbox", "quota", "alice@example.net", size)
    assert "at most 1 PiB (1125899906842624 bytes)" in line
    shown = json.loads(hosted.ok("mailbox", "show", "alice@example.net", "--json").stdout)
    assert shown["quota_bytes"] == 1024**3


def test_quota_of_exactly_the_ceiling_is_stored(hosted):
    hosted.ok("mailbox", "quota", "alice@example.net", "1024T")
    shown = json.loads(hosted.ok("mailbox", "show", "alice@example.net", "--json").stdout)
    assert shown["quota_bytes"] == 1024**5


def test_the_service_layer_has_the_same_ceiling(hosted, engine):
    with pytest.raises(InvalidInput, match="at most 1 PiB"):
        with db.transaction(engine) as session:
            accounts.set_quota(session, "alice@example.net", 2**63)


# --- reserved local parts ------------------------------------------------------------

@pytest.mark.parametrize("arguments", [
    ("customer", "add", "abuse", "--domain", "example.net"),
    ("customer", "add", "PostMaster", "--domain", "example.net"),
    ("mailbox", "add", "alice", "webmaster@example.org"),
    ("mailbox", "add", "alice", "No-Reply@example.org"),
])
def test_reserved_local_parts_cannot_be_a_mailbox(hosted, engine, arguments):
    before = (count(engine, Customer), count(engine, Mailbox), count(engine, Address))
    line = hosted.refused(9, *arguments, "--password-stdin", input=PASSWORD)
    assert "is reserved for the service's role addresses (RFC 2142" in line
    assert (count(engine, Customer), count(engine, Mailbox), count(engine, Address)) == before


@pytest.mark.parametrize("local_part", ["abuse", "ABUSE", "hostmaster", "mailer-daemon",
                                        "Administrator", "noreply", "security"])
def test_reserved_local_parts_cannot_be_an_address(hosted, local_part):
    line = hosted.refused(9, "address", "add", f"{local_part}@example.org",
                          "--mailbox", "alice@example.net")
    assert f"{local_part!r} is reserved" in line and "cannot be taken" in line


def test_reserved_local_parts_come_from_the_configuration(hosted, settings):
    hosted.config.write_text(render_settings(
        replace(settings, reserved_local_parts=("sales.team",))))
    assert "reserved" in hosted.refused(9, "address", "add", "Sales.Team@example.net",
                                        "--mailbox", "alice@example.net")
    hosted.ok("address", "add", "abuse@example.net", "--mailbox", "alice@example.net")


# --- the service's own names ---------------------------------------------------------

def test_the_service_names_cannot_be_hosted(cli, settings):
    assert (srs_domain(settings), service_host_names(settings)) == \
        ("srs.example.net", ("mail.example.net",))
    assert "the service's SRS domain" in cli.refused(9, "domain", "add", "SRS.example.net")
    assert "below the service's SRS domain srs.example.net" in cli.refused(
        9, "domain", "add", "bounces.srs.example.net")
    assert "host name of the service" in cli.refused(9, "domain", "add", "mail.example.net")
    cli.ok("domain", "add", "example.net")   # the service domain itself is hosted
    cli.ok("domain", "add", "notsrs.example.net")
    assert json.loads(cli.ok("domain", "list", "--json").stdout) == [
        {"name": "example.net", "catch_all": None},
        {"name": "notsrs.example.net", "catch_all": None}]


def test_the_service_names_come_from_the_configuration(cli, settings):
    cli.config.write_text(render_settings(replace(
        settings, srs_domain="bounce.isp.example", host_names=("mx1.isp.example",))))
    assert "SRS domain" in cli.refused(9, "domain", "add", "bounce.isp.example")
    assert "host name" in cli.refused(9, "domain", "add", "mx1.isp.example")
    cli.ok("domain", "add", "mail.example.net")
    cli.ok("domain", "add", "srs.example.net")


# --- domain remove -------------------------------------------------------------------

def domain_names(cli):
    return [view["name"] for view in json.loads(cli.ok("domain", "list", "--json").stdout)]


def test_domain_remove_of_an_empty_domain_with_its_catch_all(hosted):
    hosted.ok("domain", "catch-all", "example.org", "alice@example.net")
    assert hosted.ok("domain", "remove", "Example.ORG").stdout == "domain example.org removed\n"
    assert domain_names(hosted) == ["example.net"]
    shown = json.loads(hosted.ok("customer", "show", "alice", "--json").stdout)
    assert shown["mailboxes"][0]["addresses"] == ["alice@example.net"]


def test_domain_remove_of_an_unknown_domain(hosted):
    assert "not hosted" in hosted.refused(4, "domain", "remove", "elsewhere.example")


def test_domain_remove_refuses_while_addresses_remain(hosted, engine):
    hosted.ok("address", "add", "billing@example.org", "--mailbox", "alice@example.net")
    hosted.ok("address", "add", "sales@example.org", "--mailbox", "alice@example.net")
    line = hosted.refused(9, "domain", "remove", "example.org")
    assert "still has 2 addresses" in line and "--with-addresses" in line
    assert domain_names(hosted) == ["example.net", "example.org"]
    assert count(engine, Address) == 3


def test_domain_remove_with_addresses_takes_them_and_their_forwards(hosted, engine):
    hosted.ok("address", "add", "billing@example.org", "--mailbox", "alice@example.net")
    hosted.ok("address", "add", "alias1@example.net", "--mailbox", "alice@example.net")
    hosted.ok("rules", "forward", "billing@example.org", "accounts@remote.example")
    result = hosted.ok("domain", "remove", "example.org", "--with-addresses")
    assert result.stdout == "domain example.org removed with 1 address\n"
    assert domain_names(hosted) == ["example.net"]
    listed = [view["address"] for view in
              json.loads(hosted.ok("address", "list", "--json").stdout)]
    assert listed == ["alias1@example.net", "alice@example.net"]
    assert count(engine, Forward) == 0


def test_domain_remove_refuses_a_domain_of_primary_addresses(hosted, engine):
    hosted.ok("mailbox", "add", "alice", "alice.work@example.org", "--password-stdin",
              input=PASSWORD)
    hosted.ok("address", "add", "billing@example.org", "--mailbox", "alice@example.net")
    for extra in ([], ["--with-addresses"]):
        line = hosted.refused(9, "domain", "remove", "example.org", *extra)
        assert "primary address of 1 mailbox (alice.work@example.org)" in line
        assert "delete the customer alice first" in line
    assert domain_names(hosted) == ["example.net", "example.org"]
    assert count(engine, Address) == 3
    hosted.ok("customer", "delete", "alice", "--yes")
    hosted.ok("domain", "remove", "example.org")
    assert domain_names(hosted) == ["example.net"]
