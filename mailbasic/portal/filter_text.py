"""A mailbox's filters in plain sentences, in the customer's language: each top-level
command of the Sieve script (rules/model.py) as one line of the filters page."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from mailbasic.rules import model


def _(message: str, **values: Any) -> str:
    return str(gettext(message, **values))


def command_sentence(command: model.Command) -> str:
    if isinstance(command, model.If):
        return _if_sentence(command)
    if isinstance(command, model.FileInto):
        return (_("file a copy into the folder %(folder)s", folder=_quoted(command.folder))
                if command.copy else
                _("file into the folder %(folder)s", folder=_quoted(command.folder)))
    if isinstance(command, model.Redirect):
        return (_("redirect a copy to %(address)s", address=command.address)
                if command.copy else _("redirect to %(address)s", address=command.address))
    if isinstance(command, model.Vacation):
        return _("reply with a vacation message (to each sender at most every %(days)d "
                       "days)", days=command.days)
    if isinstance(command, model.Notify):
        return _("send a notification to %(address)s", address=command.address)
    return {model.Keep: _("keep it in the inbox"), model.Discard: _("discard it"),
            model.Stop: _("stop: no further filters")}[type(command)]


def _if_sentence(command: model.If) -> str:
    parts = []
    for number, (test, block) in enumerate(command.branches):
        actions = _block(block)
        parts.append(_("if %(condition)s: %(actions)s", condition=test_sentence(test),
                             actions=actions) if number == 0 else
                     _("otherwise if %(condition)s: %(actions)s",
                             condition=test_sentence(test), actions=actions))
    if command.otherwise is not None:
        parts.append(_("otherwise: %(actions)s", actions=_block(command.otherwise)))
    return "; ".join(parts)


def _block(block: model.Block) -> str:
    return ", ".join(command_sentence(command) for command in block) or _("nothing")


def test_sentence(test: model.Test) -> str:
    if isinstance(test, model.Constant):
        return _("always") if test.value else _("never")
    if isinstance(test, model.Not):
        return _("not (%(condition)s)", condition=test_sentence(test.test))
    if isinstance(test, (model.AllOf, model.AnyOf)):
        inner = "; ".join(test_sentence(each) for each in test.tests)
        return (_("all of: %(conditions)s", conditions=inner)
                if isinstance(test, model.AllOf)
                else _("any of: %(conditions)s", conditions=inner))
    if isinstance(test, model.ExistsTest):
        return _("the message has the header %(names)s", names=_names(test.headers))
    if isinstance(test, model.SizeTest):
        size = _size(test.limit)
        return (_("the message is larger than %(size)s", size=size) if test.over
                else _("the message is smaller than %(size)s", size=size))
    if isinstance(test, model.CurrentDate):  # a vacation's day: never among the filters
        raise TypeError(f"not a filter's test: {test!r}")
    sentence = _("%(what)s %(comparison)s", what=_what(test),
                       comparison=_comparison(test.match, test.keys))
    if test.comparator == "i;octet":
        sentence += " " + _("(case-sensitive)")
    return sentence


def _what(test: model.HeaderTest | model.AddressTest | model.EnvelopeTest
          | model.BodyTest) -> str:
    if isinstance(test, model.BodyTest):
        return _("the text")
    if isinstance(test, model.HeaderTest):
        return _("the header %(names)s", names=_names(test.headers))
    if isinstance(test, model.EnvelopeTest):
        names = " / ".join(_("envelope sender") if part == "from"
                           else _("envelope recipient") for part in test.envelope_parts)
    else:
        names = _names(test.headers)
    if test.part == "localpart":
        return _("the name before the @ in %(names)s", names=names)
    if test.part == "domain":
        return _("the domain in %(names)s", names=names)
    return _("the address in %(names)s", names=names)


def _comparison(match: model.MatchType, keys: tuple[str, ...]) -> str:
    quoted = (" " + _("or") + " ").join(_quoted(key) for key in keys)
    if match == "contains":
        return _("contains %(keys)s", keys=quoted)
    if match == "matches":
        return _("matches %(keys)s (* any text, ? one character)", keys=quoted)
    if match == "regex":
        return _("matches the regular expression %(keys)s", keys=quoted)
    return _("is %(keys)s", keys=quoted)


def _names(names: tuple[str, ...]) -> str:
    """Header names as mail programs show them: "x-spam-flag" as X-Spam-Flag."""
    return " / ".join("-".join(part.capitalize() for part in name.split("-"))
                      for name in names)


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return _("%(bytes)d bytes", bytes=limit)


def _quoted(text: str) -> str:
    return _("\u201c%(text)s\u201d", text=text)  # each language's quotation marks
