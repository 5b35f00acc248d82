"""`mailbasic api-token create | list | revoke`: tokens of the admin REST API."""

from __future__ import annotations

import click

from mailbasic.api.tokens import SCOPES
from mailbasic.cli.context import CliContext, emit, json_option, pass_context


@click.group("api-token")
def group() -> None:
    """Tokens of the admin REST API (/api/v1), each with its scopes.

    Writing does not include reading: give a token every scope it needs."""


@group.command()
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(SCOPES)), help="What the token may do (repeat).")
@pass_context
def create(context: CliContext, name: str, scopes: tuple[str, ...]) -> None:
    """Create token NAME and print it: it is shown this once, and stored only as a hash."""
    from mailbasic.api import tokens

    with context.transaction() as session:
        secret = tokens.create(session, name, list(scopes))
    click.echo(secret)
    click.echo(f"api token {name} created with scopes {', '.join(scopes)}; keep it now, "
               "it cannot be shown again", err=True)


@group.command("list")
@json_option
@pass_context
def list_(context: CliContext, as_json: bool) -> None:
    """List the tokens with their scopes, last use and revocation (never the tokens)."""
    from mailbasic.api import tokens

    with context.transaction() as session:
        views = [tokens.view(token) for token in tokens.list_tokens(session)]
    emit(views, as_json, "\n".join(
        f"{view['name']}  {' '.join(view['scopes'])}  last used "
        f"{view['last_used_at'] or 'never'}"
        + (f"  REVOKED {view['revoked_at']}" if view["revoked_at"] else "")
        for view in views))


@group.command()
@click.argument("name")
@pass_context
def revoke(context: CliContext, name: str) -> None:
    """Revoke token NAME: refused from the next request on."""
    from mailbasic.api import tokens

    with context.transaction() as session:
        tokens.revoke(session, name)
    click.echo(f"api token {name} revoked")
