"""What ManageSieve's commands do to a mailbox's scripts (mailbasic/managesieve/scripts.py)
against the real PostgreSQL: the active script is the filters `rules filter export`
prints, drafts are kept, and refusals leave everything as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from mailbasic import db
from mailbasic.managesieve.scripts import DEFAULT_NAME, MAX_SCRIPTS, Listed, Refusal, Scripts

MAILBOX = "rita.sieve@example.net"
INVOICES = 'require "fileinto";\nif header :contains "subject" "Rechnung" { fileinto "R"; }\n'
VACATION = ('require "vacation";\nvacation :days 3 :subject "Away" "Back on Monday.";\n')
# As SOGo 5.8 writes a filter and a dated vacation (SOGoSieveManager.m).
SOGO = ('require ["fileinto","vacation","date","relational"];\r\n'
        'if anyof (header :contains "subject" "Work") {\r\n    fileinto "Work";\r\n}\r\n'
        'if allof ( currentdate :value "ge" "date" "2026-12-01", currentdate :value "le" '
        '"date" "2026-12-24" ) { vacation :days 7 :subject "Out of office" :addresses '
        f'["{MAILBOX}", "rita.away@example.net"] text:\r\nI am away.\r\nBack after '
        'Christmas.\r\n.\r\n;\r\n}\r\n')


@pytest.fixture
def on_scripts(cli, engine) -> Callable[[Callable[[Scripts], Any]], Any]:
    cli.ok("domain", "add", "example.net")
    cli.ok("customer", "add", "rita.sieve", "--domain", "example.net", "--password-stdin",
           input="a long secret\n")
    cli.ok("address", "add", "rita.away@example.net", "--mailbox", MAILBOX)

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


def vacation_of(cli) -> dict | None:
    return json.loads(cli.ok("rules", "show", MAILBOX, "--json").output)["vacation"]


def test_a_clients_vacation_becomes_the_mailboxs_vacation_setting(cli, on_scripts):
    on_scripts(lambda s: s.put("away", VACATION))
    on_scripts(lambda s: s.activate("away"))
    assert "vacation" not in exported(cli)   # not a filter: the mailbox's setting
    assert vacation_of(cli) == {"from": date.today().isoformat(), "until": "9999-12-31",
                                "subject": "Away", "text": "Back on Monday.",
                                "interval_days": 3}


def test_sogos_dated_vacation_sets_the_days_and_getscript_gives_it_back(cli, on_scripts):
    on_scripts(lambda s: s.put("sogo", SOGO))
    assert vacation_of(cli) is None          # a draft sets nothing
    on_scripts(lambda s: s.activate("sogo"))
    assert vacation_of(cli) == {"from": "2026-12-01", "until": "2026-12-24",
                                "subject": "Out of office",
                                "text": "I am away.\r\nBack after Christmas.\r\n",
                                "interval_days": 7}
    assert 'fileinto "Work"' in exported(cli)
    text = on_scripts(lambda s: s.text_of("sogo"))
    assert 'currentdate :value "ge" "date" "2026-12-01"' in text
    assert f':addresses ["{MAILBOX}", "rita.away@example.net"]' in text
    on_scripts(lambda s: s.put("sogo", text))   # what it gives back, put again: the same
    assert on_scripts(lambda s: s.text_of("sogo")) == text


def test_a_vacation_set_in_the_portal_shows_in_the_active_script(cli, on_scripts):
    cli.ok("rules", "vacation", MAILBOX, "--from", "2026-07-01", "--until", "2026-07-31",
           "--text", "Summer.")
    assert on_scripts(lambda s: s.listing()) == [Listed(DEFAULT_NAME, True)]
    assert 'if allof (currentdate :value "ge" "date" "2026-07-01", currentdate :value ' \
        '"le" "date" "2026-07-31") {\n    vacation :days 7' in on_scripts(
            lambda s: s.text_of(DEFAULT_NAME))


def test_sogos_way_of_saving_replaces_a_vacation_set_in_the_portal(cli, engine, on_scripts):
    """SOGo saves by SETACTIVE "", DELETESCRIPT, PUTSCRIPT and SETACTIVE of "sogo", and
    only when no script of another name is active: hence the default name "sogo"."""
    cli.ok("rules", "vacation", MAILBOX, "--from", "2026-07-01", "--until", "2026-07-31",
           "--text", "Summer.")

    def as_sogo(action: Callable[[Scripts], Any]) -> Any:
        with db.transaction(engine) as session:
            return action(Scripts(session, MAILBOX, default_name="sogo"))
    assert as_sogo(lambda s: s.listing()) == [Listed("sogo", True)]
    as_sogo(lambda s: s.activate(""))
    assert vacation_of(cli) is None
    as_sogo(lambda s: s.delete("sogo"))      # the old text, kept as a draft, goes
    as_sogo(lambda s: s.put("sogo", SOGO))
    as_sogo(lambda s: s.activate("sogo"))
    assert vacation_of(cli)["from"] == "2026-12-01"
    assert as_sogo(lambda s: s.listing()) == [Listed("sogo", True)]


def test_a_script_without_vacation_turns_it_off(cli, on_scripts):
    on_scripts(lambda s: s.put("sogo", SOGO))
    on_scripts(lambda s: s.activate("sogo"))
    on_scripts(lambda s: s.put("sogo", INVOICES))
    assert vacation_of(cli) is None and 'fileinto "R"' in exported(cli)
    on_scripts(lambda s: s.put("sogo", SOGO))
    on_scripts(lambda s: s.activate(""))     # no active script: no filters, no vacation
    assert vacation_of(cli) is None and exported(cli) == ""
    assert "vacation" in on_scripts(lambda s: s.text_of("sogo"))   # kept as a draft


def test_the_vacation_services_refusals_name_the_line_and_change_nothing(cli, on_scripts):
    on_scripts(lambda s: s.put("sogo", SOGO))
    on_scripts(lambda s: s.activate("sogo"))
    before = (vacation_of(cli), exported(cli))
    backwards = SOGO.replace("2026-12-24", "2026-11-24")
    with pytest.raises(Refusal, match=r"^line 5: vacation: the vacation ends \(2026-11-24\)"
                                      r" before it starts"):
        on_scripts(lambda s: s.put("sogo", backwards))
    with pytest.raises(Refusal, match=r"^line 5: vacation :addresses: x@elsewhere.example"):
        on_scripts(lambda s: s.check(SOGO.replace(MAILBOX, "x@elsewhere.example")))
    assert (vacation_of(cli), exported(cli)) == before


def test_switching_the_active_script_keeps_the_old_one_as_a_draft(cli, on_scripts):
    on_scripts(lambda s: s.put("a", INVOICES))
    on_scripts(lambda s: s.put("b", VACATION))
    on_scripts(lambda s: s.activate("a"))
    on_scripts(lambda s: s.activate("b"))
    assert on_scripts(lambda s: s.listing()) == [Listed("a", False), Listed("b", True)]
    assert vacation_of(cli) is not None
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
