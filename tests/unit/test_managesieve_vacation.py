"""A ManageSieve client's vacation as the mailbox's vacation setting
(mailbasic/managesieve/vacation.py), on scripts shaped as SOGo 5.8's SOGoSieveManager
writes them: its filter rules, its vacation with and without dates, and what it can
write that mailbasic cannot run, refused with the line."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from mailbasic.managesieve.vacation import OPEN_END, Setting, VacationRefused, join, split
from mailbasic.rules import model, sieve
from mailbasic.rules.sieve import SieveError

TODAY = date(2026, 11, 30)
OWN = {"alice@example.net", "a.smith@example.net"}
# SOGo's "ignore mailing lists", exactly as it writes it.
IGNORE_LISTS = ('not exists ["list-help", "list-unsubscribe", "list-subscribe", '
                '"list-owner", "list-post", "list-archive", "list-id", "Mailing-List"], '
                'not header :comparator "i;ascii-casemap" :is "Precedence" '
                '["list", "bulk", "junk"], '
                'not header :comparator "i;ascii-casemap" :matches "To" '
                '"Multiple recipients of*"')
# SOGo's filter rules: each rule's match (all, any, every message) and actions, one
# field and operator of each kind it offers that mailbasic runs.
SOGO_FILTERS = (
    'if allof (address :contains "from" "boss@example.org", '
    'header :is "subject" "Report") {\r\n'
    '    fileinto "Work/Reports";\r\n    stop;\r\n}\r\n'
    'if anyof (not address :matches ["to", "cc"] "*@example.net", '
    'header :matches "X-Mailer" "*Bulk*", body :text :contains "unsubscribe", '
    'size :over 500K, header :regex :comparator "i;octet" "subject" "^\\\\[SPAM\\\\]") {\r\n'
    '    discard;\r\n}\r\n'
    '    redirect "alice@example.org";\r\n    keep;\r\n')
SOGO_VACATION = (
    'vacation :days 7 :subject "Out of office" '
    ':addresses ["alice@example.net", "a.smith@example.net"] '
    'text:\r\nI am away until Christmas.\r\n..and back after.\r\n.\r\n;\r\n')


def sogo(body: str, *requires: str) -> str:
    """SOGo's script: its require line (joined with '","'), then its parts."""
    return 'require ["' + '","'.join(requires) + '"];\r\n' + body


def read(text: str) -> tuple[model.Script, Setting | None]:
    return split(sieve.parse(text, vacation_dates=True), OWN, TODAY)


def dated(*conditions: str) -> str:
    return f"if allof ( {', '.join(conditions)} ) {{ {SOGO_VACATION}}}\r\n"


def test_sogos_filters_are_the_filters_and_no_vacation():
    text = sogo(SOGO_FILTERS, "fileinto", "regex", "body")
    filters, vacation = read(text)
    assert vacation is None
    assert filters == sieve.parse(text)
    folders = [command for command in filters.commands[0].branches[0][1]]
    assert folders == [model.FileInto("Work/Reports"), model.Stop()]


def test_sogos_vacation_between_two_days_ignoring_lists_is_the_setting():
    text = sogo(SOGO_FILTERS + dated(IGNORE_LISTS, 'currentdate :value "ge" "date" '
                                     '"2026-12-01"', 'currentdate :value "le" "date" '
                                     '"2026-12-24"'),
                "fileinto", "regex", "body", "vacation", "date", "relational")
    filters, vacation = read(text)
    assert filters == sieve.parse(sogo(SOGO_FILTERS, "fileinto", "regex", "body"))
    assert vacation == Setting(date(2026, 12, 1), date(2026, 12, 24), "Out of office",
                               "I am away until Christmas.\r\n.and back after.\r\n", 7,
                               line=11)


def test_sogos_vacation_always_sent_without_dates_starts_today_and_never_ends():
    # "Always send": the vacation before the filters; no dates, no conditions.
    _, vacation = read(sogo(SOGO_VACATION + SOGO_FILTERS, "vacation", "fileinto", "regex",
                            "body"))
    assert vacation is not None
    assert (vacation.first_day, vacation.last_day) == (TODAY, OPEN_END)


@pytest.mark.parametrize("condition, first, last", [
    ('currentdate :value "ge" "date" "2026-12-01"', date(2026, 12, 1), OPEN_END),
    ('currentdate :value "le" "date" "2026-12-24"', TODAY, date(2026, 12, 24)),
    ('currentdate :value "gt" "date" "2026-12-01"', date(2026, 12, 2), OPEN_END),
    ('currentdate :value "eq" "date" "2026-12-24"', date(2026, 12, 24), date(2026, 12, 24)),
])
def test_one_date_bounds_one_end(condition, first, last):
    _, vacation = read(sogo(dated(condition), "vacation", "date", "relational"))
    assert vacation is not None and (vacation.first_day, vacation.last_day) == (first, last)


def test_getscript_gives_back_an_equivalent_script():
    filters, vacation = read(sogo(SOGO_FILTERS + dated(
        'currentdate :value "ge" "date" "2026-12-01"',
        'currentdate :value "le" "date" "2026-12-24"'),
        "fileinto", "regex", "body", "vacation", "date", "relational"))
    text = sieve.render(join(filters, vacation, ["alice@example.net", "a.smith@example.net"]))
    assert text.startswith('require ["body", "date", "fileinto", "regex", "relational", '
                           '"vacation"];\nif allof (currentdate :value "ge" "date" '
                           '"2026-12-01", currentdate :value "le" "date" "2026-12-24") {\n'
                           '    vacation :days 7 :subject "Out of office" :addresses '
                           '["alice@example.net", "a.smith@example.net"] "I am away')
    again_filters, again = read(text)
    assert vacation is not None
    assert (again_filters, again) == (filters, replace(vacation, line=3))


def test_an_open_ended_vacation_is_given_back_without_an_end():
    setting = Setting(TODAY, OPEN_END, "", "Away.", 3, 0)
    text = sieve.render(join(model.Script(), setting, ["alice@example.net"]))
    assert text == ('require ["date", "relational", "vacation"];\n'
                    'if currentdate :value "ge" "date" "2026-11-30" {\n'
                    '    vacation :days 3 "Away.";\n}\n')


def test_a_vacation_under_a_test_of_the_message_stays_a_filter():
    text = sogo('if header :contains "subject" "urgent" { vacation "Call me."; }\r\n',
                "vacation")
    filters, vacation = read(text)
    assert vacation is None and filters == sieve.parse(text)


def test_the_filters_alone_know_no_dates():
    """`rules filter import` and the portal: currentdate and date stay unsupported."""
    with pytest.raises(SieveError, match="unsupported capability 'date'"):
        sieve.parse('require ["date", "relational"];\nkeep;\n')
    with pytest.raises(SieveError, match="unsupported test 'currentdate'"):
        sieve.parse('if currentdate :value "ge" "date" "2026-12-01" { keep; }\n')


# What SOGo can write that mailbasic cannot run: refused at PUTSCRIPT, with the line.
@pytest.mark.parametrize("text, refusal", [
    # Flag a message ("addflag", imapflags: SOGo's name when the server offers no
    # imap4flags).
    (sogo('if header :contains "subject" "x" {\r\n    addflag "\\\\Flagged";\r\n}\r\n',
          "imapflags"), "line 1: unsupported capability 'imapflags'"),
    # Reject with a message.
    (sogo('if header :contains "subject" "x" {\r\n    reject "No.";\r\n}\r\n', "reject"),
     "line 1: unsupported capability 'reject'"),
    # Notify (filter action and notification options): they need variables.
    (sogo('if header :contains "subject" "x" {\r\n    notify "mailto:b@example.org";\r\n'
          '}\r\n', "enotify", "variables"), "line 1: unsupported capability 'variables'"),
    # The vacation on some weekdays only.
    (sogo(dated('currentdate :is "weekday" ["1", "2"]'), "vacation", "date", "relational"),
     "line 2: currentdate: only :value"),
    # The vacation from or until a time of day.
    (sogo(dated('date :value "ge" :zone "+0100" "date" "time" "09:00:00"'), "vacation",
          "date", "relational"), "line 2: the date test is not supported"),
    # "Discard incoming mail during the vacation".
    (sogo('if allof ( currentdate :value "ge" "date" "2026-12-01" ) { '
          + SOGO_VACATION + 'discard;\r\n}\r\n', "vacation", "date", "relational"),
     "line 2: only a vacation may depend on the date"),
    (sogo(SOGO_VACATION + 'discard;\r\n', "vacation"), "line 2: a vacation with discard"),
    # Days between replies: 0 when SOGoVacationAllowZeroDays is set.
    (sogo('vacation :days 0 "Away.";\r\n', "vacation"), "line 2: vacation :days 0"),
    # An address that is not the mailbox's.
    (sogo('vacation :addresses ["alice@example.net", "alias@elsewhere.example"] '
          '"Away.";\r\n', "vacation"), "line 2: vacation :addresses: alias@elsewhere"),
])
def test_what_sogo_writes_and_mailbasic_cannot_run_is_refused(text, refusal):
    with pytest.raises((SieveError, VacationRefused)) as refused:
        read(text)
    assert str(refused.value).startswith(refusal), str(refused.value)


@pytest.mark.parametrize("text, refusal", [
    ('require ["date", "relational", "fileinto"];\n'
     'if allof (header :contains "subject" "x",\n'
     '          currentdate :value "ge" "date" "2026-12-01") { fileinto "X"; }\n',
     "line 3: currentdate only as the days of the vacation"),
    ('require ["vacation"];\nvacation "One.";\nvacation "Two.";\n',
     "line 3: a second vacation"),
    ('require ["vacation", "date"];\n'
     'if currentdate :value "ge" "date" "2026-12-01" { vacation "x"; }\n',
     'line 2: :value needs require "relational"'),
    ('require ["vacation", "date", "relational"];\n'
     'if currentdate :value "ge" "date" "1 December" { vacation "x"; }\n',
     "line 2: currentdate: '1 December' is not a date"),
])
def test_dates_anywhere_but_the_vacation_are_refused(text, refusal):
    with pytest.raises((SieveError, VacationRefused)) as refused:
        read(text)
    assert str(refused.value).startswith(refusal), str(refused.value)
