"""`mailbasic config postfix | dovecot`: lookup configuration generated from the schema."""

import json
from pathlib import Path

import click

from mailbasic import mtaconfig
from mailbasic.cli.context import CliContext, pass_context, read_password
from mailbasic.mtaconfig import DatabaseAccess
from mailbasic.schema.privileges import ComponentRole

_OUTPUT_DIR = click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Write the files here (mode 0640: they hold the database password) "
         "instead of printing them.")
# The Ansible roles read this and write each file themselves, so that a run which
# changes nothing reports nothing changed.
_JSON = click.option("--json", "as_json", is_flag=True,
                     help='Print {"files": {name: content}, "main_cf": lines} as JSON.')


# Postfix and Dovecot log in with roles of their own (mailbasic.schema.privileges), never
# with the admin's: the deployment hands their passwords over on standard input.
_PASSWORD = click.option(
    "--password-stdin", is_flag=True,
    help="Read the component role's database password from standard input "
         "(without it, the files name no password: for peer or trust authentication).")


def _access(context: CliContext, role: ComponentRole, from_stdin: bool) -> DatabaseAccess:
    password = read_password(True) if from_stdin else None
    return DatabaseAccess.for_component(context.settings, role, password)


@click.group("config")
def group() -> None:
    """Generated Postfix and Dovecot configuration."""


@group.command()
@_JSON
@pass_context
def postfix(context: CliContext, as_json: bool) -> None:
    """The main.cf lines that ask `mailbasic lookups` for domains, mailboxes, aliases and
    sender logins (Postfix holds no database password)."""
    main_cf = mtaconfig.postfix_main_cf(context.settings)
    if as_json:
        click.echo(json.dumps({"main_cf": main_cf}, indent=2))
        return
    click.echo("# main.cf\n" + main_cf)


@group.command()
@_OUTPUT_DIR
@_JSON
@click.option("--config-dir", default="/etc/dovecot", show_default=True,
              help="Where Dovecot will find the SQL files (for the auth block).")
@_PASSWORD
@pass_context
def dovecot(context: CliContext, output_dir: Path | None, as_json: bool, config_dir: str,
            password_stdin: bool) -> None:
    """The SQL files (read as the mailbasic_dovecot role: the passdbs of app passwords
    and mailbox passwords, the userdb, the dicts) and the passdb/userdb block."""
    access = _access(context, ComponentRole.DOVECOT, password_stdin)
    files = mtaconfig.dovecot_files(context.settings, access,
                                    str(output_dir) if output_dir else config_dir)
    if as_json:
        click.echo(json.dumps({"files": files}, indent=2))
        return
    _write_or_print(files, output_dir)


def _write_or_print(files: dict[str, str], output_dir: Path | None) -> None:
    for name, content in files.items():
        if output_dir is None:
            click.echo(f"# ==> {name} <==\n{content}")
            continue
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / name
        path.write_text(content)
        path.chmod(0o640)
        click.echo(f"wrote {path}")
