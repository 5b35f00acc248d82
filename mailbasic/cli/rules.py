"""`mailbasic rules ...`: spam settings, sender lists, filters, forwarding, vacation, and
`rules test`, which shows what would happen to a message without delivering it."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import date, datetime
from typing import BinaryIO, TextIO

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.directory import directory_engine
from mailbasic.errors import InvalidInput
from mailbasic.rules import model, service, sieve
from mailbasic.rules.loops import LoopTokens
from mailbasic.rules.recipient import MessageView
from mailbasic.rules.store import RulesStore


@click.group("rules")
def group() -> None:
    """Per-mailbox rules applied when mail arrives."""


@group.command()
@click.argument("mailbox")
@json_option
@pass_context
def show(context: CliContext, mailbox: str, as_json: bool) -> None:
    """Show every rule of MAILBOX."""
    with context.transaction() as session:
        view = service.describe(session, mailbox)
    emit(view, as_json, service.describe_text(view))


@group.command()
@click.argument("mailbox")
@click.option("--on/--off", "enabled", default=None, help="Act on spam at all.")
@click.option("--threshold", type=float, help="Score from which mail is spam (5.0).")
@click.option("--action", type=click.Choice(["tag", "folder", "delete"]),
              help="tag: headers only; folder: into \"Spam\"; delete: not delivered.")
@pass_context
def spam(context: CliContext, mailbox: str, enabled: bool | None, threshold: float | None,
         action: str | None) -> None:
    """Set the spam settings of MAILBOX."""
    with context.transaction() as session:
        rules = service.set_spam(session, mailbox, enabled=enabled, threshold=threshold,
                                 action=action)
        message = (f"{mailbox}: spam filter {'on' if rules.spam_filter_enabled else 'off'}, "
                   f"threshold {rules.spam_threshold}, action {rules.spam_action.value}")
    click.echo(message)


def _sender_list_command(which: str) -> Callable[..., None]:
    @click.argument("mailbox")
    @click.argument("sender")
    @click.option("--remove", is_flag=True, help="Take SENDER off the list.")
    @pass_context
    def command(context: CliContext, mailbox: str, sender: str, remove: bool) -> None:
        with context.transaction() as session:
            if remove:
                service.remove_sender(session, mailbox, sender)
            else:
                service.add_sender(session, mailbox, which, sender)
        click.echo(f"{sender} {'removed from' if remove else 'added to'} the {which} "
                   f"of {mailbox}")
    command.__doc__ = (f"Put SENDER (name@domain or @domain) on the {which} of MAILBOX.")
    return command


group.command("whitelist")(_sender_list_command("whitelist"))
group.command("blacklist")(_sender_list_command("blacklist"))


@group.group("filter")
def filter_group() -> None:
    """The filters of a mailbox, in order; import and export as Sieve."""


@filter_group.command("add")
@click.argument("mailbox")
@click.option("--if", "conditions", multiple=True, required=True, metavar="CONDITION",
              help="FIELD MATCH VALUE, e.g. 'subject contains invoice'; FIELD: from, to, "
                   "cc, subject, body, header:NAME; MATCH: is, contains, matches, regex; "
                   "'not ...' negates. Repeat for more.")
@click.option("--any", "any_of", is_flag=True, help="Any condition suffices (default: all).")
@click.option("--fileinto", "folders", multiple=True, help="File into this folder.")
@click.option("--redirect", "redirects", multiple=True, help="Redirect to this address.")
@click.option("--copy", is_flag=True, help="fileinto/redirect keep the message in INBOX too.")
@click.option("--discard", is_flag=True)
@click.option("--keep", is_flag=True, help="Also keep the message in INBOX.")
@click.option("--stop", is_flag=True, help="Do not run the filters after this one.")
@pass_context
def filter_add(context: CliContext, mailbox: str, conditions: tuple[str, ...], any_of: bool,
               folders: tuple[str, ...], redirects: tuple[str, ...], copy: bool,
               discard: bool, keep: bool, stop: bool) -> None:
    """Append a filter to MAILBOX's filters."""
    tests = tuple(parse_condition(condition) for condition in conditions)
    test = tests[0] if len(tests) == 1 else (model.AnyOf(tests) if any_of else model.AllOf(tests))
    actions = ([model.FileInto(folder, copy) for folder in folders]
               + [model.Redirect(address, copy) for address in redirects]
               + [model.Keep()] * keep + [model.Discard()] * discard + [model.Stop()] * stop)
    if not actions:
        raise InvalidInput("give an action: --fileinto, --redirect, --discard, --keep or --stop")
    with context.transaction() as session:
        script = service.add_filter(session, mailbox, model.If(((test, tuple(actions)),)))
    click.echo(f"filter {len(script.commands)} added to {mailbox}")


_FIELDS = {"from": "address", "to": "address", "cc": "address", "subject": "header",
           "body": "body"}


def parse_condition(text: str) -> model.Test:
    words = shlex.split(text)
    negated = bool(words) and words[0].lower() == "not"
    words = words[1:] if negated else words
    if len(words) != 3:
        raise InvalidInput(f"condition {text!r}: write FIELD MATCH VALUE")
    field, match, value = words[0].lower(), words[1].lower(), words[2]
    if not model.is_match_type(match):
        raise InvalidInput(f"condition {text!r}: MATCH is one of is, contains, matches, regex")
    if field.startswith("header:") and len(field) > 7:
        test: model.Test = model.HeaderTest((words[0][7:],), (value,), match)
    elif _FIELDS.get(field) == "address":
        test = model.AddressTest((field,), (value,), match)
    elif field == "subject":
        test = model.HeaderTest(("subject",), (value,), match)
    elif field == "body":
        test = model.BodyTest((value,), match)
    else:
        raise InvalidInput(f"condition {text!r}: FIELD is from, to, cc, subject, body or "
                           "header:NAME")
    return model.Not(test) if negated else test


@filter_group.command("import")
@click.argument("mailbox")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@pass_context
def filter_import(context: CliContext, mailbox: str, file: TextIO) -> None:
    """Replace MAILBOX's filters with the Sieve script in FILE ('-': standard input)."""
    text = file.read()
    with context.transaction() as session:
        script = service.set_filters(session, mailbox, text)
    click.echo(f"{len(script.commands)} filter(s) imported into {mailbox}")


@filter_group.command("export")
@click.argument("mailbox")
@pass_context
def filter_export(context: CliContext, mailbox: str) -> None:
    """Print MAILBOX's filters as a Sieve script."""
    with context.transaction() as session:
        script = service.filters_of(session, mailbox)
    click.echo(sieve.render(script), nl=False)


@filter_group.command("clear")
@click.argument("mailbox")
@pass_context
def filter_clear(context: CliContext, mailbox: str) -> None:
    """Remove all of MAILBOX's filters."""
    with context.transaction() as session:
        service.set_filters(session, mailbox, "")
    click.echo(f"filters of {mailbox} removed")


@group.command()
@click.argument("address")
@click.argument("target", required=False)
@click.option("--keep-copy", is_flag=True, help="Deliver to the mailbox as well.")
@click.option("--remove", is_flag=True, help="Stop forwarding ADDRESS.")
@pass_context
def forward(context: CliContext, address: str, target: str | None, keep_copy: bool,
            remove: bool) -> None:
    """Forward mail for ADDRESS to TARGET instead of delivering it."""
    if remove == bool(target):
        raise InvalidInput("give either TARGET or --remove")
    with context.transaction() as session:
        if remove:
            service.remove_forward(session, address)
        elif target:  # always, without --remove (checked above)
            service.set_forward(session, address, target, keep_copy)
    click.echo(f"{address}: forwarding removed" if remove else
               f"{address}: forwarded to {target}" + (" (copy kept)" if keep_copy else ""))


@group.command()
@click.argument("mailbox")
@click.option("--from", "first_day", type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option("--until", "last_day", type=click.DateTime(["%Y-%m-%d"]), help="Last day.")
@click.option("--subject", default="", help="Empty: \"Auto: \" and the original subject.")
@click.option("--text", help="The reply's text.")
@click.option("--text-file", type=click.File("r", encoding="utf-8"), help="Or read it here.")
@click.option("--interval", default=7, show_default=True, help="Days between two replies "
              "to one sender.")
@click.option("--off", is_flag=True, help="Remove the vacation reply.")
@pass_context
def vacation(context: CliContext, mailbox: str, first_day: datetime | None,
             last_day: datetime | None, subject: str, text: str | None,
             text_file: TextIO | None, interval: int, off: bool) -> None:
    """Set (or remove with --off) MAILBOX's vacation reply."""
    with context.transaction() as session:
        if off:
            service.clear_vacation(session, mailbox)
        else:
            body = text_file.read() if text_file else text
            if not first_day or not last_day or not body:
                raise InvalidInput("give --from, --until and --text or --text-file")
            service.set_vacation(session, mailbox, first_day.date(), last_day.date(),
                                 subject, body, interval)
    click.echo(f"{mailbox}: vacation reply " + ("removed" if off else
               f"from {first_day:%Y-%m-%d} until {last_day:%Y-%m-%d}"))


@group.command("test")
@click.option("--mailbox", required=True, help="The recipient mailbox (or one address).")
@click.option("--sender", help="Envelope sender (default: the From: address; '' for the "
              "null sender of a bounce).")
@click.argument("file", type=click.File("rb"))
@json_option
@pass_context
def test_(context: CliContext, mailbox: str, sender: str | None, file: BinaryIO,
          as_json: bool) -> None:
    """Show what MAILBOX's rules would do with the message in FILE, and why.
    Nothing is delivered; the spam score is read from the message's X-Spam-Score."""
    raw = file.read()
    store = RulesStore(directory_engine(context.settings), cache_seconds=0)
    rules = store.rules_for(mailbox)
    if rules is None:
        raise InvalidInput(f"{mailbox} reaches no mailbox here")
    view = MessageView.parse("" if sender is None else sender, raw)
    if sender is None:  # a message without an envelope: its From: address stands in
        view = MessageView.parse(view.first_from(), raw)
    result = service.explain(rules, view, mailbox, LoopTokens(context.settings.srs_secrets),
                             date.today())
    emit(result, as_json, service.explain_text(result))
