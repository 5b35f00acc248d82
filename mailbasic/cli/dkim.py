"""`mailbasic dkim generate | show | activate | retire`: the DKIM keys of hosted domains
(mailbasic/dkim_keys.py). Each change is audited by the CLI's transaction."""

from __future__ import annotations

import click

from mailbasic.cli.context import CliContext, emit, json_option, pass_context


@click.group("dkim")
def group() -> None:
    """DKIM keys of hosted domains: generate, publish in DNS, activate, retire.

    The milter signs authenticated mail whose From: is a hosted domain with the domain's
    active key (one per algorithm). A new key signs nothing until activated: publish its
    TXT record first."""


@group.command()
@click.argument("domain")
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True, help="rsa: RSA 2048, rsa-sha256; ed25519: ed25519-sha256.")
@click.option("--selector", help="The selector (default mbYYYYMM, mbYYYYMMe for ed25519).")
@pass_context
def generate(context: CliContext, domain: str, algorithm: str, selector: str | None) -> None:
    """Make a new key for DOMAIN and print its TXT record to publish; it signs nothing
    until `dkim activate`."""
    from mailbasic import dkim_keys

    with context.transaction() as session:
        key = dkim_keys.generate(session, domain, dkim_keys.algorithm_named(algorithm),
                                 selector)
        record = dkim_keys.zone_line(key.selector, domain.lower(), key.algorithm,
                                     key.public_key)
        chosen = key.selector
    click.echo(record)
    click.echo(f"DKIM key {chosen} of {domain.lower()} published, not signing: put the "
               f"record into DNS, then `mailbasic dkim activate {domain.lower()} {chosen}`",
               err=True)


@group.command()
@click.argument("domain")
@json_option
@pass_context
def show(context: CliContext, domain: str, as_json: bool) -> None:
    """Print the TXT record of each of DOMAIN's keys that is not retired, with its state."""
    from mailbasic import dkim_keys

    with context.transaction() as session:
        views = [dkim_keys.view(key, domain) for key in dkim_keys.list_keys(session, domain)]
    emit(views, as_json, "\n".join(f"{view['record']} ; {view['state']} {view['algorithm']}"
                                   for view in views)
         or f"; no DKIM keys for {domain.lower()}")


@group.command()
@click.argument("domain")
@click.argument("selector")
@pass_context
def activate(context: CliContext, domain: str, selector: str) -> None:
    """Sign DOMAIN's mail with SELECTOR's key (its TXT record must be in DNS); the key it
    replaces stays published until retired."""
    from mailbasic import dkim_keys

    with context.transaction() as session:
        key, replaced = dkim_keys.activate(session, domain, selector)
        algorithm, previous = key.algorithm.value, replaced.selector if replaced else None
    click.echo(f"DKIM key {selector.lower()} of {domain.lower()} active ({algorithm})"
               + (f"; {previous} stays published until `dkim retire`" if previous else ""))


@group.command()
@click.argument("domain")
@click.argument("selector")
@pass_context
def retire(context: CliContext, domain: str, selector: str) -> None:
    """Retire SELECTOR's key of DOMAIN (not the active one): its private part is destroyed
    and its TXT record may be removed from DNS."""
    from mailbasic import dkim_keys

    with context.transaction() as session:
        dkim_keys.retire(session, domain, selector)
    click.echo(f"DKIM key {selector.lower()} of {domain.lower()} retired: remove its TXT "
               "record from DNS")
