"""The CLI's group loads its commands lazily: `mailbasic --help` lists every command with
its own one-line help without importing any command's module (or SQLAlchemy)."""

import importlib
import inspect
import json
import subprocess
import sys

import click
from click.testing import CliRunner

from mailbasic.cli import COMMANDS, main

# The commands before lazy loading, and those added since (import, delivery-log,
# audit, portal, api-token, app-password, abuse, auth, auth-policy, managesieve, dkim).
EXPECTED_LISTING = """\
Commands:
  abuse         Sending incidents: logins that sent spam or kept tripping...
  address       Addresses of mailboxes (1 primary + up to 5 more each).
  api-token     Tokens of the admin REST API (/api/v1), each with its...
  app-password  App passwords of mailboxes: one per device, for chosen...
  audit         The audit log of changes (portal, support, CLI, API).
  auth          Login blocks of the brute-force defence (IMAP, POP3, SMTP...
  auth-policy   Answer Dovecot's authentication policy requests on...
  backup        Backups of the account database and the mailboxes...
  collect       POP3 collection: mail from external POP3 accounts into a...
  config        Generated Postfix and Dovecot configuration.
  customer      Customers (each with up to two mailboxes).
  db            The account database schema.
  delivery-log  Follow Postfix's log file (delivery_log.file) and store...
  dkim          DKIM keys of hosted domains: generate, publish in DNS,...
  domain        Hosted domains.
  fax           Fax to e-mail: numbers, formats, and the gateway's...
  import        Create customers with their mailboxes, addresses and...
  jobs          Maintenance jobs: safe to repeat and to run twice at...
  log           The SMTP transaction log and the delivery record.
  lookups       Answer Postfix's lookups of domains, mailboxes, aliases...
  mailbox       Mailboxes, named by their primary address.
  managesieve   Serve ManageSieve on managesieve.socket: the active...
  milter        Serve Postfix's milter connections on the configured...
  policy        Serve Postfix's policy requests on the configured socket...
  portal        Serve the customer portal on portal.socket for nginx...
  rules         Per-mailbox rules applied when mail arrives.
  sms           SMS notifications of arriving mail (`mailbasic jobs sms`...
  srs           Answer Postfix's lookups of SRS addresses on...
"""


def first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).partition("\n\n")[0].split())


def test_the_group_lists_the_same_commands_as_before():
    # As on an 80-column terminal (click leaves 2 columns).
    result = CliRunner().invoke(main, ["--help"], prog_name="mailbasic", terminal_width=78)
    assert result.exit_code == 0
    assert result.output.endswith(EXPECTED_LISTING)
    assert main.list_commands(click.Context(main)) == [
        line.split()[0] for line in EXPECTED_LISTING.splitlines()[1:]]


def test_the_held_help_texts_are_the_commands_own():
    for name, (module, attribute, help_text) in COMMANDS.items():
        command = getattr(importlib.import_module(f"mailbasic.cli.{module}"), attribute)
        assert command.name == name
        assert first_paragraph(help_text) == first_paragraph(command.help), name


def test_every_command_loads_and_shows_its_help():
    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"], prog_name="mailbasic")
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: mailbasic {name} ")


def test_help_imports_no_command_module_and_no_sqlalchemy():
    probe = ("import sys, json\n"
             "from mailbasic.cli import main\n"
             "try:\n"
             "    main(['--help'])\n"
             "except SystemExit:\n"
             "    pass\n"
             "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    finished = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=60, check=True)
    modules = json.loads(finished.stderr)
    assert "Commands:" in finished.stdout
    assert not [name for name in modules if name.split(".")[0] in
                ("sqlalchemy", "alembic", "bcrypt", "psycopg2", "milter", "PIL",
                 "cryptography")]
    ours = [name for name in modules if name.startswith("mailbasic.")]
    assert ours == ["mailbasic.cli", "mailbasic.errors"], ours


def test_an_unknown_command_is_still_a_usage_error():
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output
