"""`mailbasic backup list | restore`: the backups `mailbasic jobs backup` writes."""

from __future__ import annotations

from pathlib import Path

import click

from mailbasic import backup, db
from mailbasic.cli.context import CliContext, emit, json_option, pass_context
from mailbasic.config import require_database_url
from mailbasic.doveadm import Doveadm


@click.group("backup")
def group() -> None:
    """Backups of the account database and the mailboxes (written by `jobs backup`)."""


@group.command("list")
@json_option
@pass_context
def list_backups(context: CliContext, as_json: bool) -> None:
    """The complete backups, oldest first."""
    views = []
    for path in backup.complete_backups(Path(context.settings.backup_directory)):
        manifest = backup.read_manifest(path)
        views.append({"name": path.name, "created": manifest["created"],
                      "revision": manifest["revision"],
                      "mailboxes": len(manifest["mailboxes"]),
                      "messages": sum(manifest["mailboxes"].values())})
    emit(views, as_json, "\n".join(
        f"{view['name']}  {view['mailboxes']} mailboxes  {view['messages']} messages"
        for view in views) or "no backups")


@group.command()
@click.option("--backup", "name", help="Which backup (default: the newest).")
@click.option("--mailbox", help="Only this mailbox's mail, into the existing account.")
@pass_context
def restore(context: CliContext, name: str | None, mailbox: str | None) -> None:
    """Restore everything (accounts into an empty database, then every mailbox) or one
    mailbox. The backup's messages a mailbox does not hold are added; nothing is deleted,
    and a message still there is not added again."""
    settings = context.settings
    found = backup.find_backup(Path(settings.backup_directory), name)
    doveadm = Doveadm(settings.doveadm_command)
    if mailbox is None:
        backup.restore_database(backup.Database(require_database_url(settings)), found)
        click.echo(f"restored the account database from {found.name} "
                   f"(schema {backup.read_manifest(found)['revision']})")
        db.upgrade(settings)  # a backup from before a migration gets it now
    users = [mailbox.lower()] if mailbox else sorted(backup.read_manifest(found)["mailboxes"])
    for user in users:
        added, already = backup.restore_mailbox(doveadm, found, user)
        click.echo(f"restored {added} messages into {user} from {found.name} "
                   f"({already} were there already)")
