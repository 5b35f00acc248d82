"""What ManageSieve's commands do to a mailbox's scripts (mailbasic/managesieve/scripts.py)
against the real PostgreSQL: the active script is the filters `rules filter export`
prints, drafts are kept, and refusals leave everything as it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailbasic import db
from mailbasic.managesieve.scripts import DEFAULT_NAME, MAX_SCRIPTS, Listed, Refusal, Scripts

MAILBOX = "rita.sieve@example.net"
INVOICES = 'require "fileinto";\nif header :contains "subject" "Rechnung" { fileinto "R"; }\n'
VACATION = ('require "vacation";\nvacation :days 3 :subject "Away" "Back on Monday.";\n')


@pytest.fixture
def on_scripts(cli, engine) -> Callable[[Callable[[Scripts], Any]], Any]:
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "rita.sieve", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")

    def run(action: Callable[[Scripts], Any]) -> Any:
        with db.transaction(engine) as session:
            return action(Scripts(session, MAILBOX))
    return run


def exported(cli) -> str:
    return cli.ok("rules", "filter", "export", MAILBOX).output


def test_filters_set_elsewhere_appear_as_the_active_script(cli, on_scripts, tmp_path):
    script = tmp_path / "f.sieve"
    script.write_text(INVOICES)
    cli.ok("rules", "filter", "import", MAILBOX, str(script))
    assert on_scripts(lambda s: s.listing()) == [Listed(DEFAULT_NAME, True)]
    assert on_scripts(lambda s: s.text_of(DEFAULT_NAME)) == exported(cli)
    on_scripts(lambda s: s.rename(DEFAULT_NAME, "invoices"))
    assert on_scripts(lambda s: s.listing()) == [Listed("invoices", True)]
    on_scripts(lambda s: s.activate(""))
    assert exported(cli) == ""
    assert 'fileinto "R"' in on_scripts(lambda s: s.text_of("invoices"))


def test_a_refused_script_changes_nothing(cli, on_scripts):
    on_scripts(lambda s: s.put("mine", INVOICES))
    on_scripts(lambda s: s.activate("mine"))
    before = exported(cli)
    with pytest.raises(Refusal, match=r"^line 1: unsupported capability 'imap4flags'"):
        on_scripts(lambda s: s.put("mine", 'require "imap4flags";\nkeep;\n'))
    with pytest.raises(Refusal, match="line 1"):
        on_scripts(lambda s: s.put("draft", 'require "imap4flags";\nkeep;\n'))
    assert exported(cli) == before
    assert on_scripts(lambda s: s.listing()) == [Listed("mine", True)]


def test_a_clients_vacation_becomes_the_filters_vacation_reply(cli, on_scripts):
    on_scripts(lambda s: s.put("away", VACATION))
    on_scripts(lambda s: s.activate("away"))
    assert 'vacation :days 3 :subject "Away" "Back on Monday."' in exported(cli)


def test_switching_the_active_script_keeps_the_old_one_as_a_draft(cli, on_scripts):
    on_scripts(lambda s: s.put("a", INVOICES))
    on_scripts(lambda s: s.put("b", VACATION))
    on_scripts(lambda s: s.activate("a"))
    on_scripts(lambda s: s.activate("b"))
    assert on_scripts(lambda s: s.listing()) == [Listed("a", False), Listed("b", True)]
    assert "vacation" in exported(cli)
    assert 'fileinto "R"' in on_scripts(lambda s: s.text_of("a"))
    with pytest.raises(Refusal) as refused:
        on_scripts(lambda s: s.delete("b"))
    assert refused.value.code == "ACTIVE"
    with pytest.raises(Refusal) as refused:
        on_scripts(lambda s: s.rename("a", "b"))
    assert refused.value.code == "ALREADYEXISTS"
    with pytest.raises(Refusal) as refused:
        on_scripts(lambda s: s.activate("nope"))
    assert refused.value.code == "NONEXISTENT"


def test_the_number_of_scripts_is_limited(on_scripts):
    for number in range(MAX_SCRIPTS):
        on_scripts(lambda s, number=number: s.put(f"s{number}", "keep;\n"))
    with pytest.raises(Refusal) as refused:
        on_scripts(lambda s: s.put("one more", "keep;\n"))
    assert refused.value.code == "QUOTA/MAXSCRIPTS"
    on_scripts(lambda s: s.put("s0", "discard;\n"))   # replacing one is fine
    with pytest.raises(Refusal) as refused:
        on_scripts(lambda s: s.have_space("one more", 10))
    assert refused.value.code == "QUOTA/MAXSCRIPTS"
