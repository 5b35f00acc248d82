"""`mailbasic sms set | rule add | rule remove | show | outbox`: SMS notifications."""

from __future__ import annotations

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.errors import InvalidInput
from mailbasic.schema import OutboxState, SmsRuleKind
from mailbasic.sms import service


@click.group("sms")
def group() -> None:
    """SMS notifications of arriving mail (`mailbasic jobs sms` sends them)."""


@group.command("set")
@click.argument("mailbox")
@click.option("--phone", help="The mobile number the SMS go to, e.g. +491701234567.")
@click.option("--enable/--disable", "enabled", default=None,
              help="Send SMS for this mailbox at all (on when a phone is first set).")
@pass_context
def set_phone(context: CliContext, mailbox: str, phone: str | None,
              enabled: bool | None) -> None:
    """Set the phone number of MAILBOX, or turn its SMS on or off."""
    if phone is None and enabled is None:
        raise InvalidInput("give --phone, --enable or --disable")
    with context.transaction() as session:
        settings = service.set_phone(session, mailbox, phone, enabled)
        message = (f"{mailbox}: SMS to {settings.phone} "
                   f"{'on' if settings.enabled else 'off'}")
    click.echo(message)


@group.group("rule")
def rule() -> None:
    """Which arriving mail is worth an SMS."""


@rule.command("add")
@click.argument("mailbox")
@click.option("--sender", help="From this address, or anyone @domain.")
@click.option("--subject", help="A keyword in the subject (any case).")
@click.option("--fax", is_flag=True, help="A fax arrived.")
@click.option("--high-priority", is_flag=True,
              help="X-Priority 1 or 2, Importance: high, or Priority: urgent.")
@pass_context
def add_rule(context: CliContext, mailbox: str, sender: str | None, subject: str | None,
             fax: bool, high_priority: bool) -> None:
    """Send an SMS for MAILBOX when arriving mail matches (one condition per rule)."""
    chosen = [(kind, value) for kind, value, given in (
        (SmsRuleKind.SENDER, sender, sender is not None),
        (SmsRuleKind.SUBJECT, subject, subject is not None),
        (SmsRuleKind.FAX, None, fax),
        (SmsRuleKind.HIGH_PRIORITY, None, high_priority)) if given]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of --sender, --subject, --fax, --high-priority")
    with context.transaction() as session:
        entry = service.add_rule(session, mailbox, *chosen[0])
        message = f"{mailbox}: SMS rule {entry.id} added"
    click.echo(message)


@rule.command("remove")
@click.argument("mailbox")
@click.argument("rule_id", type=int)
@pass_context
def remove_rule(context: CliContext, mailbox: str, rule_id: int) -> None:
    """Remove the SMS rule RULE_ID (see `sms show`) of MAILBOX."""
    with context.transaction() as session:
        service.remove_rule(session, mailbox, rule_id)
    click.echo(f"{mailbox}: SMS rule {rule_id} removed")


@group.command()
@click.argument("mailbox")
@json_option
@pass_context
def show(context: CliContext, mailbox: str, as_json: bool) -> None:
    """The phone and SMS rules of MAILBOX."""
    with context.transaction() as session:
        view = service.describe(session, mailbox)
    rules = [f"  {rule['id']}: {rule['kind']}" + (f" {rule['value']}" if rule["value"] else "")
             for rule in view["rules"]]
    state = "on" if view["enabled"] else "off"
    emit(view, as_json, "\n".join([f"{mailbox}: SMS {state}, phone {view['phone'] or '-'}"]
                                  + (rules or ["  no rules"])))


@group.command()
@click.option("--mailbox", help="Only this mailbox's SMS.")
@click.option("--state", type=click.Choice([state.value for state in OutboxState]))
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@pass_context
def outbox(context: CliContext, mailbox: str | None, state: str | None, limit: int,
           as_json: bool) -> None:
    """The newest SMS: queued, sent, failed or suppressed, and why."""
    with context.transaction() as session:
        rows = service.outbox(session, mailbox, OutboxState(state) if state else None, limit)
    emit(rows, as_json, "\n".join(
        f"{row['id']}  {row['queued_at'][:19]}  {row['mailbox']}  {row['state']}"
        f"  ({row['reason']})  {row['text']}" + (f"  [{row['last_error']}]"
                                                 if row["last_error"] else "")
        for row in rows) or "no SMS")
