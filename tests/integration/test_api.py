"""The admin REST API over real HTTP: the portal and the API as `mailbasic portal` serves
them (one WSGI app, the API mounted at /api/v1), in waitress on a loopback port, asked
with http.client. Tokens come from the CLI; the audit log is read with the CLI."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from dataclasses import dataclass, replace
from typing import Any

import pytest
import waitress
from sqlalchemy import select

from mailbasic import db, smtplog
from mailbasic.api.tokens import SCOPES
from mailbasic.portal.server import wsgi_app
from mailbasic.schema import ApiToken
from mailbasic.smtplog import TransactionRecord

DOMAIN = "api.example"
PASSWORD = "a mailbox secret"
ALICE = f"alice@{DOMAIN}"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: Any


class Server:
    """The WSGI app in waitress on 127.0.0.1, its loop in a thread of its own (which also
    closes it, so no socket is touched from two threads)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        self.port = self.server.effective_port
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            self.server.asyncore.loop(timeout=0.05, map=self.server._map, count=1)
        for channel in list(self.server._map.values()):
            channel.close()
        self.server.task_dispatcher.shutdown()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             raw: bytes | None = None, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = content_type
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return Answer(response.status, response.headers,
                      json.loads(payload) if is_json and payload else payload)

    def api(self, method: str, path: str, body: Any = None, **keywords: Any) -> Answer:
        return self.call(method, "/api/v1" + path, body, **keywords)


@pytest.fixture
def server(settings, cli):
    settings = replace(settings, portal_secret_key="k" * 40)
    cli.ok("domain", "add", DOMAIN)
    engine = db.make_engine(settings)
    served = Server(wsgi_app(settings, engine))
    yield served
    served.stop()
    engine.dispose()


def new_token(cli, name: str, *scopes: str) -> str:
    arguments = [argument for scope in (scopes or SCOPES) for argument in ("--scope", scope)]
    result = cli.ok("api-token", "create", name, *arguments)
    secret = result.stdout.strip()
    assert len(secret) >= 43 and "\n" not in secret      # 256 bits, URL-safe base64
    return secret


def refusal(answer: Answer, status: int, kind: str) -> dict[str, Any]:
    """The one error shape, with this status and kind."""
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers["Content-Type"] == "application/json", answer.body
    assert set(answer.body) == {"error"}, answer.body
    error = answer.body["error"]
    assert set(error) - {"fields"} == {"kind", "message", "exit_code"}, error
    assert error["kind"] == kind and error["message"], error
    return error


def cli_message(cli, exit_code: int, *arguments: str) -> str:
    return cli.refused(exit_code, *arguments).removeprefix("mailbasic: error: ")


def test_tokens_come_from_the_cli_and_are_stored_hashed(server, cli, settings):
    secret = new_token(cli, "billing", "customers:read")
    assert server.api("GET", "/customers", token=secret).status == 200
    engine = db.make_engine(settings)
    with db.transaction(engine) as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.scopes == ["customers:read"] and row.last_used_at is not None
    engine.dispose()
    listed = json.loads(cli.ok("api-token", "list", "--json").stdout)
    assert [(view["name"], view["scopes"]) for view in listed] == [
        ("billing", ["customers:read"])]
    assert secret not in cli.ok("api-token", "list").stdout
    assert cli("api-token", "create", "billing", "--scope", "log:read").exit_code == 5
    assert cli("api-token", "create", "x", "--scope", "everything").exit_code == 2


def test_no_token_a_wrong_or_revoked_one_is_401(server, cli):
    secret = new_token(cli, "billing")
    answer = server.api("GET", "/customers")
    refusal(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    refusal(server.api("GET", "/customers", token="wrong" + secret), 401, "unauthorized")
    refusal(server.api("GET", "/customers", headers={"Authorization": f"Basic {secret}"}),
            401, "unauthorized")
    assert server.api("GET", "/customers", token=secret).status == 200
    cli.ok("api-token", "revoke", "billing")
    answer = server.api("GET", "/customers", token=secret)
    refusal(answer, 401, "unauthorized")
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert cli("api-token", "revoke", "billing").exit_code == 9
    assert "REVOKED" in cli.ok("api-token", "list").stdout


def test_a_scope_not_granted_is_403(server, cli):
    reader = new_token(cli, "reader", "customers:read", "mailboxes:read")
    answer = server.api("POST", "/customers", {"name": "alice", "domain": DOMAIN,
                                               "password": PASSWORD}, token=reader)
    error = refusal(answer, 403, "forbidden")
    assert "customers:write" in error["message"] and error["exit_code"] is None
    assert 'scope="customers:write"' in answer.headers["WWW-Authenticate"]
    refusal(server.api("GET", "/log", token=reader), 403, "forbidden")
    refusal(server.api("PATCH", f"/mailboxes/{ALICE}/rules/spam", {"enabled": False},
                       token=reader), 403, "forbidden")
    assert server.api("GET", "/customers", token=reader).body == []


def test_customer_mailbox_and_addresses_up_to_the_limit(server, cli):
    token = new_token(cli, "provisioning")
    answer = server.api("POST", "/customers", {"name": "alice", "domain": DOMAIN,
                                               "password": PASSWORD}, token=token)
    assert answer.status == 201 and answer.body["mailboxes"][0]["name"] == ALICE
    assert server.api("GET", "/customers/alice", token=token).body["name"] == "alice"
    for number in range(1, 6):
        answer = server.api("POST", f"/mailboxes/{ALICE}/addresses",
                            {"address": f"extra{number}@{DOMAIN}"}, token=token)
        assert answer.status == 201, answer.body
    answer = server.api("POST", f"/mailboxes/{ALICE}/addresses",
                        {"address": f"extra6@{DOMAIN}"}, token=token)
    error = refusal(answer, 409, "limit_reached")
    assert error["exit_code"] == 6
    assert error["message"] == cli_message(cli, 6, "address", "add", f"extra7@{DOMAIN}",
                                           "--mailbox", ALICE)
    assert len(server.api("GET", f"/mailboxes/{ALICE}/addresses", token=token).body) == 6
    error = refusal(server.api("POST", "/customers", {"name": "alice", "domain": DOMAIN,
                                                      "password": PASSWORD}, token=token),
                    409, "already_exists")
    assert error["exit_code"] == 5
    refusal(server.api("DELETE", f"/addresses/{ALICE}", token=token), 403, "not_allowed")
    refusal(server.api("GET", f"/customers/nobody{DOMAIN}", token=token), 404, "not_found")
    second = f"alice.two@{DOMAIN}"
    assert server.api("POST", "/customers/alice/mailboxes",
                      {"address": second, "password": PASSWORD}, token=token).status == 201
    moved = server.api("POST", f"/addresses/extra1@{DOMAIN}/move", {"mailbox": second},
                       token=token)
    assert moved.status == 200 and moved.body["mailbox"] == second
    assert server.api("DELETE", f"/addresses/extra2@{DOMAIN}", token=token).status == 204
    assert server.api("DELETE", "/customers/alice", token=token).status == 204
    refusal(server.api("GET", "/customers/alice", token=token), 404, "not_found")


def test_quota_deactivation_and_reactivation(server, cli):
    token = new_token(cli, "billing")
    cli.ok("customer", "add", "alice", "--domain", DOMAIN, "--password-stdin",
           input=PASSWORD + "\n")
    answer = server.api("PUT", f"/mailboxes/{ALICE}/quota", {"quota": "2G"}, token=token)
    assert answer.status == 200 and answer.body["quota_bytes"] == 2 * 1024 ** 3
    assert server.api("PUT", f"/mailboxes/{ALICE}/quota", {"quota": 5000000},
                      token=token).body["quota_bytes"] == 5000000
    for bad in (0, -1, 10 ** 30, "lots", "1e99", True, None, 1.5):
        refusal(server.api("PUT", f"/mailboxes/{ALICE}/quota", {"quota": bad}, token=token),
                422, "invalid_input")
    answer = server.api("POST", f"/mailboxes/{ALICE}/deactivate",
                        {"reason": "unpaid invoice"}, token=token)
    assert answer.body["receiving"] == "deactivated"
    assert answer.body["deactivated_reason"] == "unpaid invoice"
    error = refusal(server.api("POST", f"/mailboxes/{ALICE}/deactivate", token=token),
                    403, "not_allowed")
    assert error["exit_code"] == 9
    assert error["message"] == cli_message(cli, 9, "mailbox", "deactivate", ALICE)
    answer = server.api("POST", f"/mailboxes/{ALICE}/reactivate", token=token)
    assert answer.body["receiving"] == "active"
    assert "receiving  active" in cli.ok("mailbox", "show", ALICE).stdout
    assert server.api("PUT", f"/mailboxes/{ALICE}/password", {"password": "short"},
                      token=token).body["error"]["kind"] == "invalid_input"
    assert server.api("PUT", f"/mailboxes/{ALICE}/password",
                      {"password": "a new mailbox secret"}, token=token).status == 204


def test_spam_rules_filters_forwarding_and_vacation(server, cli):
    token = new_token(cli, "rules", "rules:read", "rules:write")
    cli.ok("customer", "add", "alice", "--domain", DOMAIN, "--password-stdin",
           input=PASSWORD + "\n")
    answer = server.api("PATCH", f"/mailboxes/{ALICE}/rules/spam",
                        {"threshold": 7.5, "action": "folder"}, token=token)
    assert answer.body == {"enabled": True, "threshold": 7.5, "action": "folder"}
    for bad in ({}, {"threshold": 1000}, {"action": "burn"}, {"enabled": "maybe"}):
        refusal(server.api("PATCH", f"/mailboxes/{ALICE}/rules/spam", bad, token=token),
                422, "invalid_input")
    assert server.api("PUT", f"/mailboxes/{ALICE}/rules/senders/@spam.example",
                      {"list": "blacklist"}, token=token).status == 200
    sieve = 'require "fileinto";\nif header :contains "subject" "invoice" {\n' \
            '  fileinto "Invoices";\n}\n'
    answer = server.api("PUT", f"/mailboxes/{ALICE}/rules/filters", {"sieve": sieve},
                        token=token)
    assert answer.status == 200 and answer.body["filters"] == 1
    error = refusal(server.api("PUT", f"/mailboxes/{ALICE}/rules/filters",
                               {"sieve": "if true {\n  reject \"no\";\n}\n"}, token=token),
                    422, "invalid_input")
    assert "line" in error["message"]
    assert server.api("PUT", f"/addresses/{ALICE}/forward",
                      {"target": "alice@elsewhere.example", "keep_copy": True},
                      token=token).status == 200
    vacation = {"from": "2030-07-01", "until": "2030-07-14", "subject": "Away",
                "text": "Back on the 15th."}
    answer = server.api("PUT", f"/mailboxes/{ALICE}/rules/vacation", vacation, token=token)
    assert answer.status == 200 and answer.body["interval_days"] == 7
    rules = server.api("GET", f"/mailboxes/{ALICE}/rules", token=token).body
    assert rules["spam"]["action"] == "folder" and rules["blacklist"] == ["@spam.example"]
    assert 'fileinto "Invoices"' in rules["filters"]
    assert rules["forwards"] == {ALICE: {"target": "alice@elsewhere.example",
                                         "keep_copy": True}}
    assert rules["vacation"]["from"] == "2030-07-01"
    refusal(server.api("PUT", f"/mailboxes/{ALICE}/rules/vacation",
                       {**vacation, "until": "2030-06-01"}, token=token), 422, "invalid_input")
    assert server.api("DELETE", f"/mailboxes/{ALICE}/rules/vacation", token=token).status == 204
    assert server.api("DELETE", f"/addresses/{ALICE}/forward", token=token).status == 204
    refusal(server.api("DELETE", f"/addresses/{ALICE}/forward", token=token), 404, "not_found")


def test_log_search(server, cli, settings):
    token = new_token(cli, "support", "log:read")
    engine = db.make_engine(settings)
    with engine.begin() as connection:
        for queue_id, recipient in (("AAA111", ALICE), ("BBB222", "bob@elsewhere.example")):
            smtplog.record(connection, TransactionRecord(
                queue_id=queue_id, client_address="192.0.2.7", client_name="mx.example",
                helo="mx.example", tls=None, auth_user=None, sender="someone@remote.example",
                size=1234, reply="250 accepted", recipients=[(recipient, "accepted")],
                verdicts={"spam": {"verdict": "ham"}}))
    engine.dispose()
    found = server.api("GET", f"/log?address={ALICE}&since=1h", token=token).body
    assert [entry["queue_id"] for entry in found] == ["AAA111"]
    assert found[0]["recipients"] == [{"address": ALICE, "outcome": "accepted"}]
    assert found[0]["verdicts"] == {"spam": {"verdict": "ham"}}
    assert len(server.api("GET", "/log?limit=1", token=token).body) == 1
    assert server.api("GET", "/log?queue_id=CCC333", token=token).body == []
    error = refusal(server.api("GET", "/log?since=yesterday", token=token), 422,
                    "invalid_input")
    assert error["message"] == cli_message(cli, 7, "log", "search", "--since", "yesterday")
    for query in ("limit=0", "limit=abc", "limit=99999999999999999999", "adress=x"):
        refusal(server.api("GET", f"/log?{query}", token=token), 422, "invalid_input")


def test_the_openapi_document_lists_every_path(server):
    answer = server.call("GET", "/api/v1/openapi.json")
    assert answer.status == 200
    document = answer.body
    assert document["openapi"].startswith("3.") and document["servers"] == [{"url": "/api/v1"}]
    api = server.app.mounts["/api/v1"]
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in api.url_map.iter_rules()
              if rule.endpoint not in ("static", "api-docs.openapi_json")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, operations in document["paths"].items()
                  for method in operations if method != "parameters"}
    assert served == documented
    scopes = {operation["x-scope"] for operations in document["paths"].values()
              for name, operation in operations.items() if name != "parameters"}
    assert scopes == set(SCOPES)
    assert "Error" in document["components"]["schemas"]


# Refused input of every sort: each a 4xx of the one shape, none a 500.
MALFORMED = [
    ("POST", "/customers", b"{", "application/json", 400),
    ("POST", "/customers", b"\xff\xfe{}", "application/json", 400),
    ("POST", "/customers", b"[1, 2]", "application/json", 422),
    ("POST", "/customers", b'"alice"', "application/json", 422),
    ("POST", "/customers", b"name=alice", "application/x-www-form-urlencoded", 422),
    ("POST", "/customers", b'{"name": "alice", "domain": "api.example", "password": '
     b'"a mailbox secret", "admin": true}', "application/json", 422),
    ("POST", "/customers", b'{"name": 5, "domain": [], "password": {}}', "application/json",
     422),
    ("POST", "/customers", b'{"name": "' + b"a" * 5000 + b'", "domain": "api.example", '
     b'"password": "a mailbox secret"}', "application/json", 422),
    ("POST", "/customers", b'{"name": "ali\\u0000ce", "domain": "api.example", '
     b'"password": "a mailbox secret"}', "application/json", 422),
    ("POST", "/customers", b'{"name": "bobby", "domain": "api.example", "password": '
     b'"' + b"x" * 200 + b'"}', "application/json", 422),
    ("PUT", f"/mailboxes/{ALICE}/quota", b'{"quota": ' + b"9" * 5000 + b"}",
     "application/json", 400),
    ("PUT", f"/mailboxes/{ALICE}/quota", b"[" * 100000 + b"]" * 100000, "application/json",
     400),
    ("PATCH", f"/mailboxes/{ALICE}/rules/spam", b'{"threshold": NaN}', "application/json",
     422),
    ("PATCH", f"/mailboxes/{ALICE}/rules/spam", b'{"threshold": 1e999}', "application/json",
     422),
    ("PUT", f"/mailboxes/{ALICE}/rules/vacation", b'{"from": "2030-02-30", "until": '
     b'"2030-03-01", "text": "x"}', "application/json", 422),
    ("PUT", f"/mailboxes/{ALICE}/rules/filters", b'{"sieve": "' + b"#" * (2 * 1024 * 1024)
     + b'"}', "application/json", 413),
    ("GET", "/mailboxes/ali%00ce@api.example", None, "", 422),
    ("GET", "/mailboxes/" + "a" * 20000 + "@api.example", None, "", 404),
    ("GET", "/nothing/here", None, "", 404),
    ("DELETE", "/customers", None, "", 405),
]


@pytest.mark.parametrize(("method", "path", "raw", "content_type", "status"), MALFORMED)
def test_malformed_input_is_a_4xx_of_the_one_shape(server, cli, method, path, raw,
                                                  content_type, status):
    token = new_token(cli, "billing")
    cli.ok("customer", "add", "alice", "--domain", DOMAIN, "--password-stdin",
           input=PASSWORD + "\n")
    answer = server.api(method, path, raw=raw, content_type=content_type, token=token)
    error = refusal(answer, status, answer.body["error"]["kind"])
    assert 400 <= answer.status < 500
    if status in (400, 422):
        assert error["kind"] == "invalid_input" and error["exit_code"] == 7


def test_portal_pages_stay_html_beside_the_api(server):
    page = server.call("GET", "/login")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    missing = server.call("GET", "/nothing/here")
    assert missing.status == 404 and missing.headers["Content-Type"].startswith("text/html")


def test_every_change_is_audited_with_the_token_and_client(server, cli):
    token = new_token(cli, "billing")
    client = {"X-Real-IP": "192.0.2.44"}
    server.api("POST", "/customers", {"name": "alice", "domain": DOMAIN,
                                      "password": PASSWORD}, token=token, headers=client)
    changes = [
        ("POST", f"/mailboxes/{ALICE}/addresses", {"address": f"extra1@{DOMAIN}"}),
        ("PUT", f"/mailboxes/{ALICE}/quota", {"quota": "1G"}),
        ("POST", f"/mailboxes/{ALICE}/deactivate", {}),
        ("POST", f"/mailboxes/{ALICE}/reactivate", None),
        ("PATCH", f"/mailboxes/{ALICE}/rules/spam", {"enabled": False}),
        ("PUT", f"/addresses/extra1@{DOMAIN}/forward", {"target": "x@elsewhere.example"}),
        ("PUT", "/customers/alice/portal-password", {"password": "a portal secret"}),
        ("DELETE", f"/addresses/extra1@{DOMAIN}", None),
    ]
    for method, path, body in changes:
        assert server.api(method, path, body, token=token, headers=client).status < 300
    refused = server.api("POST", f"/mailboxes/{ALICE}/reactivate", token=token)
    assert refused.status == 403
    server.api("GET", "/customers/alice", token=token)             # reads are not changes
    events = json.loads(cli.ok("audit", "search", "--customer", "alice", "--json").stdout)
    assert [event["action"] for event in reversed(events)] == [
        "customer added", "address added", "quota set", "mailbox deactivated",
        "mailbox reactivated", "spam settings changed", "forward set",
        "portal password set", "address removed"]
    assert {(event["actor"], event["client_address"]) for event in events} == {
        ("api billing", "192.0.2.44")}
    # Before them: the fixture's domain (a CLI command's record) and the token itself.
    oldest_first = [event["action"] for event in reversed(json.loads(
        cli.ok("audit", "search", "--json").stdout))]
    assert oldest_first[:2] == ["domain add", "api token created"]
