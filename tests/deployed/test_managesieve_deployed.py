"""`mailbasic managesieve` as Ansible deployed it: port 4190 with the deployed certificate
after STARTTLS, logins checked by the deployed Dovecot's auth, its own database role."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.deployed.conftest import mailbasic
from tests.e2e.test_managesieve_flow import Client

PORT = 4190
CONFIG = Path("/etc/mailbasic/managesieve.toml")
VACATION = ('require ["vacation", "date", "relational"];\r\n'
            'if allof (currentdate :value "ge" "date" "2030-12-01", '
            'currentdate :value "le" "date" "2030-12-24") {\r\n'
            '    vacation :days 7 :subject "Away" text:\r\nBack after Christmas.\r\n.\r\n;\r\n'
            '}\r\n')


def test_greets_with_starttls_and_offers_plain_only_over_tls(tls_context):
    with Client(PORT) as client:
        assert b'"IMPLEMENTATION" "mailbasic"' in client.greeting
        assert b'"STARTTLS"' in client.greeting and b'"SASL" ""' in client.greeting
        assert client.send(b"CAPABILITY").endswith(b'OK "capabilities"\r\n')
        capabilities = client.starttls(tls_context)
        assert b'"SASL" "PLAIN"' in capabilities and b"STARTTLS" not in capabilities
        assert b"date" in capabilities and b"relational" in capabilities


def test_a_mailbox_logs_in_and_its_vacation_becomes_the_mailboxs(customer, tls_context):
    login, password = customer.alice
    with Client(PORT) as client:
        client.starttls(tls_context)
        assert client.login(login, "not the password").startswith(b"NO")
        assert client.login(login, password) == b'OK "logged in"\r\n'
        assert client.put("sogo", VACATION).startswith(b"OK")
        assert client.send(b'SETACTIVE "sogo"').startswith(b"OK")
        assert b"Back after Christmas." in client.send(b'GETSCRIPT "sogo"')
    shown = mailbasic("rules", "show", login)
    assert "vacation: 2030-12-01 until 2030-12-24" in shown, shown


def test_logs_in_to_the_database_as_its_own_role():
    settings = tomllib.loads(CONFIG.read_text())
    assert settings["database"]["url"].startswith("postgresql+psycopg2://mailbasic_managesieve:")
    assert settings["managesieve"]["socket"] == f"inet:{PORT}@0.0.0.0"
