"""A client's vacation is the mailbox's vacation setting (the vacations table, the one the
portal and `rules vacation` set), not a filter action: webmail writes its "away" page as
a vacation in the active script, and the customer finds it again in the portal.

The script's vacation counts as the mailbox's when it stands at the top level, alone or
in an `if` whose only tests are RFC 5260 currentdate days (its first and last day) and
the mailing-list exclusions SOGo adds, which the mailbox's vacation makes anyway
(rules/vacation.py). What stays is the filters. A vacation under a test of the message
stays a filter's own vacation reply, as with `rules filter import`.

The mailbox's vacation answers every message the mailbox keeps, wherever the script
wrote it (as SOGo's "always send"); GETSCRIPT shows it first, so the script it returns
means what the server does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from mailbasic.rules import model

# Never: the vacation has no last day. A first day is always written: the day it was set.
OPEN_END = date.max
_LIST_HEADERS = {"list-help", "list-unsubscribe", "list-subscribe", "list-owner", "list-post",
                 "list-archive", "list-id", "mailing-list"}


class VacationRefused(Exception):
    """The script's vacation cannot be the mailbox's: its line and the reason."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


@dataclass(frozen=True)
class Setting:
    """What the script's vacation sets (service.set_vacation's arguments)."""

    first_day: date
    last_day: date
    subject: str
    text: str
    interval_days: int
    line: int                  # of the vacation, for the refusals of set_vacation


def split(script: model.Script, own_addresses: set[str],
          today: date) -> tuple[model.Script, Setting | None]:
    """The filters, and the mailbox's vacation if the script has one. VacationRefused when
    the script asks what the mailbox's vacation cannot do, or leaves a date test among
    the filters (they have no clock)."""
    filters: list[model.Command] = []
    found: Setting | None = None
    for command in script.commands:
        vacation, tests = _as_dated_vacation(command)
        if vacation is None:
            filters.append(command)
            continue
        if found is not None:
            raise VacationRefused(vacation.line, "a second vacation: the mailbox has one "
                                  "vacation reply")
        found = _setting(vacation, tests, own_addresses, today)
    if found is not None and any(isinstance(command, model.Discard) for command in filters):
        # Sieve would reply and discard; the mailbox's vacation answers only mail it keeps.
        raise VacationRefused(found.line, "a vacation with discard: the vacation reply "
                              "answers only mail the mailbox keeps (no discarding during "
                              "the vacation)")
    _refuse_dates_in(tuple(filters))
    return model.Script(tuple(filters)), found


def join(filters: model.Script, setting: Setting | None,
         own_addresses: list[str]) -> model.Script:
    """The script of filters and vacation, as GETSCRIPT returns it: the vacation first."""
    if setting is None:
        return filters
    vacation = model.Vacation(setting.text, setting.interval_days, setting.subject,
                              tuple(own_addresses) if len(own_addresses) > 1 else ())
    days: list[model.Test] = []
    if setting.first_day != date.min:
        days.append(model.CurrentDate("ge", setting.first_day))
    if setting.last_day != OPEN_END:
        days.append(model.CurrentDate("le", setting.last_day))
    head: model.Command = vacation
    if days:
        head = model.If(((days[0] if len(days) == 1 else model.AllOf(tuple(days)),
                          (vacation,)),))
    return replace(filters, commands=(head,) + filters.commands)


# -- helpers ----------------------------------------------------------------------------

def _as_dated_vacation(command: model.Command
                       ) -> tuple[model.Vacation | None, tuple[model.CurrentDate, ...]]:
    """The vacation and its days, if COMMAND is the mailbox's vacation; else None."""
    if isinstance(command, model.Vacation):
        return command, ()
    if not isinstance(command, model.If) or len(command.branches) != 1 \
            or command.otherwise is not None:
        return None, ()
    test, block = command.branches[0]
    tests = test.tests if isinstance(test, model.AllOf) else (test,)
    days = tuple(each for each in tests if isinstance(each, model.CurrentDate))
    if not days or any(not isinstance(each, model.CurrentDate) and not _list_exclusion(each)
                       for each in tests):
        return None, ()  # a filter's (a date among other tests is refused later)
    vacations = [each for each in block if isinstance(each, model.Vacation)]
    if len(block) != 1 or not vacations:
        raise VacationRefused(days[0].line, "only a vacation may depend on the date (no "
                              "other action during the vacation, e.g. discard)")
    return vacations[0], days


def _list_exclusion(test: model.Test) -> bool:
    """SOGo's "ignore mailing lists": list headers, Precedence, "Multiple recipients of";
    the mailbox's vacation answers none of these (rules/vacation.py)."""
    if not isinstance(test, model.Not):
        return False
    inner = test.test
    if isinstance(inner, model.ExistsTest):
        return all(name.lower() in _LIST_HEADERS for name in inner.headers)
    if isinstance(inner, model.HeaderTest) and [name.lower() for name in
                                                inner.headers] == ["precedence"]:
        return inner.match == "is" and {key.lower() for key in inner.keys} <= {
            "list", "bulk", "junk"}
    return isinstance(inner, model.HeaderTest) and inner.match == "matches" \
        and [name.lower() for name in inner.headers] == ["to"] \
        and inner.keys == ("Multiple recipients of*",)


def _setting(vacation: model.Vacation, days: tuple[model.CurrentDate, ...],
             own_addresses: set[str], today: date) -> Setting:
    foreign = [address for address in vacation.addresses
               if address.lower() not in own_addresses]
    if foreign:
        raise VacationRefused(vacation.line, f"vacation :addresses: {foreign[0]} is not an "
                              "address of this mailbox (the reply answers mail to the "
                              "mailbox's own addresses, all of them)")
    first, last = today, OPEN_END
    firsts = [_first(day) for day in days if day.relation in ("ge", "gt", "eq")]
    lasts = [_last(day) for day in days if day.relation in ("le", "lt", "eq")]
    if firsts:
        first = max(firsts)
    if lasts:
        last = min(lasts)
    return Setting(first, last, vacation.subject, vacation.reason, vacation.days,
                   vacation.line)


def _first(day: model.CurrentDate) -> date:
    try:
        return day.day if day.relation != "gt" else date.fromordinal(day.day.toordinal() + 1)
    except ValueError:
        raise VacationRefused(day.line, "the vacation starts after the last day there is") \
            from None


def _last(day: model.CurrentDate) -> date:
    try:
        return day.day if day.relation != "lt" else date.fromordinal(day.day.toordinal() - 1)
    except ValueError:
        raise VacationRefused(day.line, "the vacation ends before the first day there is") \
            from None


def _refuse_dates_in(commands: model.Block) -> None:
    for command in commands:
        if isinstance(command, model.If):
            for test, block in command.branches:
                _refuse_dates_in_test(test)
                _refuse_dates_in(block)
            _refuse_dates_in(command.otherwise or ())


def _refuse_dates_in_test(test: model.Test) -> None:
    if isinstance(test, model.CurrentDate):
        raise VacationRefused(test.line, "currentdate only as the days of the vacation: "
                              "if allof (currentdate :value \"ge\" \"date\" \"YYYY-MM-DD\", "
                              "currentdate :value \"le\" ...) { vacation ...; } at the top "
                              "level, with no other test of the message")
    if isinstance(test, (model.AllOf, model.AnyOf)):
        for inner in test.tests:
            _refuse_dates_in_test(inner)
    if isinstance(test, model.Not):
        _refuse_dates_in_test(test.test)
