"""Sender authentication end to end: test zones published through the stack's DNS server
(dnsmasq) with SPF, DKIM and DMARC records; mail sent to the real Postfix on port 25
(no AUTH) and read back over IMAPS, or refused inside the transaction; a forward to an
outside address caught by a scripted "remote MX" (aiosmtpd behind the stack's transport
map) and its ARC set verified by dkimpy against the same DNS server. No DNS lookup is
mocked."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import json
import re
import smtplib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailbasic.config import service_host_names
from mailbasic.devstack.dns import Record
from mailbasic.devstack.layout import HOST
from mailbasic.devstack.process import free_port
from mailbasic.dkim_keys import txt_strings
from tests import delivered
from tests.conftest import Cli
from tests.dns_lookup import lookup

HOSTED = "auth-hosted.example"          # our customer's domain, p=reject, sends from elsewhere
SIGNER = "auth-signer.example"          # an outside domain: SPF 127.0.0.1, DKIM key, p=reject
REJECTING = "auth-reject.example"       # outside, p=reject, sends from elsewhere
QUARANTINING = "auth-quarantine.example"  # outside, p=quarantine, sends from elsewhere
PLAIN = "auth-plain.example"            # outside, SPF 127.0.0.1 only, no DMARC record
OUTSIDE_TARGET = "auth-forwarded.example"  # where a mailbox forwards to (the remote MX)
SELECTOR = "e2e"
PASSWORD = "sender authentication's long secret"
INBOX_USER, SPAM_USER, FORWARDER = (f"{name}@{HOSTED}" for name in
                                    ("auth.inbox", "auth.spam", "auth.forward"))
DELIVERY_TIMEOUT = 30


def rsa_key() -> tuple[bytes, str]:
    """A private key in the PEM dkimpy signs with, and its public half for DNS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode("ascii")


def txt(name: str, value: str) -> Record:
    return Record("txt-record", f"{name}," + ",".join(f'"{part}"'
                                                       for part in txt_strings(value)))


class RemoteMx:
    """Keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope.original_content or b"")
        return "250 2.0.0 Ok: kept"


@pytest.fixture(scope="module")
def zones(postfix, dns, tmp_path_factory):
    """The hosted domain with its mailboxes (one files spam into Spam, one forwards
    outside), its active RSA key, and every test zone published."""
    cli = Cli(replace(postfix.settings, bcrypt_cost=4), tmp_path_factory.mktemp("cli"))
    cli.ok("domain", "add", HOSTED)
    for login in (INBOX_USER, SPAM_USER, FORWARDER):
        cli.ok("customer", "add", login.split("@")[0], "--domain", HOSTED,
               "--password-stdin", input=PASSWORD + "\n")
    cli.ok("rules", "spam", SPAM_USER, "--on", "--action", "folder")
    cli.ok("rules", "forward", FORWARDER, f"someone@{OUTSIDE_TARGET}")
    cli.ok("dkim", "generate", HOSTED, "--selector", SELECTOR)
    view = next(view for view in json.loads(cli.ok("dkim", "show", HOSTED, "--json").stdout)
                if view["selector"] == SELECTOR)
    private, public = rsa_key()
    dns.dns.publish([
        txt(view["name"].rstrip("."), view["txt"]),
        txt(HOSTED, "v=spf1 ip4:192.0.2.1 -all"), txt(f"_dmarc.{HOSTED}", "v=DMARC1; p=reject"),
        txt(SIGNER, "v=spf1 ip4:127.0.0.1 -all"),
        txt(f"{SELECTOR}._domainkey.{SIGNER}", f"v=DKIM1; k=rsa; p={public}"),
        txt(f"_dmarc.{SIGNER}", "v=DMARC1; p=reject"),
        txt(REJECTING, "v=spf1 ip4:192.0.2.1 -all"),
        txt(f"_dmarc.{REJECTING}", "v=DMARC1; p=reject"),
        txt(QUARANTINING, "v=spf1 ip4:192.0.2.1 -all"),
        txt(f"_dmarc.{QUARANTINING}", "v=DMARC1; p=quarantine"),
        txt(PLAIN, "v=spf1 ip4:127.0.0.1 -all"),
    ])
    cli.ok("dkim", "activate", HOSTED, SELECTOR)
    return postfix, private


@pytest.fixture(scope="module")
def remote_mx(zones) -> Iterator[RemoteMx]:
    stack, _ = zones
    handler = RemoteMx()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    postfix = stack.postfix
    before = postfix.transport_file.read_text()
    postfix.transport_file.write_text(before + f"{OUTSIDE_TARGET} smtp:[{HOST}]:{port}\n")
    postfix.postfix("reload")
    yield handler
    postfix.transport_file.write_text(before)
    postfix.postfix("reload")
    controller.stop()


def message(sender: str, recipient: str, subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, recipient, subject
    mail["Date"] = email.utils.formatdate(localtime=True)
    mail["Message-ID"] = f"<{uuid.uuid4()}@{sender.rpartition('@')[2]}>"
    mail.set_content("Hello,\n\nthe quarterly figures are attached as promised.\n\nRegards\n")
    return mail


def signed(mail: EmailMessage, private: bytes) -> bytes:
    raw = mail.as_bytes(policy=email.policy.SMTP)
    signature = dkim.sign(raw, SELECTOR.encode(), SIGNER.encode(), private,
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=[b"from", b"to", b"subject", b"date",
                                           b"message-id"])
    return signature + raw


def send(stack, raw: bytes, recipient: str, sender: str, helo: str = "mx.sender.example"):
    with smtplib.SMTP(HOST, stack.ports.smtp, timeout=60) as client:
        client.ehlo(helo)
        client.sendmail(sender, [recipient], raw)


def fetch(stack, tls_context, login: str, folder: str,
          subject: str) -> email.message.Message | None:
    return delivered.newest(stack.ports.imaps, tls_context, login, PASSWORD, folder, subject)


def arrives(stack, tls_context, login: str, folder: str, subject: str) -> email.message.Message:
    return delivered.arrives(stack.ports.imaps, tls_context, login, PASSWORD, folder, subject)


def ours(stack, delivered: email.message.Message) -> list[str]:
    """Our Authentication-Results headers, unfolded."""
    authserv_id = service_host_names(stack.settings)[0]
    values = [" ".join(str(value).split())
              for value in delivered.get_all("Authentication-Results") or []]
    return [value for value in values if value.lower().startswith(authserv_id + ";")]


def without_comments(header: str) -> str:
    return " ".join(re.sub(r"\([^()]*\)", " ", header).split())




def test_signed_mail_from_an_authorised_host_passes_spf_dkim_and_dmarc(zones, tls_context):
    stack, private = zones
    subject = f"authenticated {uuid.uuid4().hex[:8]}"
    mail = message(f"Ann <ann@{SIGNER}>", INBOX_USER, subject)
    send(stack, signed(mail, private), INBOX_USER, f"bounces@{SIGNER}")
    delivered = arrives(stack, tls_context, INBOX_USER, "INBOX", subject)
    (header,) = ours(stack, delivered)
    results = without_comments(header)
    assert f"spf=pass smtp.mailfrom=bounces@{SIGNER}" in results, header
    assert f"dkim=pass header.d={SIGNER} header.s={SELECTOR}" in results, header
    assert f"dmarc=pass (p=REJECT dis=NONE) header.from={SIGNER}" in header, header


def test_a_forged_from_in_a_reject_domain_is_refused_at_data(zones):
    stack, _ = zones
    mail = message(f"The CEO <ceo@{REJECTING}>", INBOX_USER, "pay this invoice")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(stack, mail.as_bytes(), INBOX_USER, f"ceo@{REJECTING}")
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 "), refused.value.smtp_error
    assert REJECTING.encode() in refused.value.smtp_error


def test_a_hosted_domains_own_address_is_no_longer_free_to_forge_on_port_25(zones):
    """Without AUTH, on port 25, with the hosted domain's own address: its p=reject
    refuses what its SPF does not authorise and no signature of its carries."""
    stack, _ = zones
    mail = message(f"Boss <{INBOX_USER}>", INBOX_USER, "urgent transfer")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(stack, mail.as_bytes(), INBOX_USER, INBOX_USER)
    assert (refused.value.smtp_code, refused.value.smtp_error[:6]) == (550, b"5.7.1 ")


def test_a_quarantine_failure_follows_the_mailboxs_spam_action(zones, tls_context, tmp_path):
    stack, _ = zones
    subject = f"quarantined {uuid.uuid4().hex[:8]}"
    mail = message(f"Shop <news@{QUARANTINING}>", SPAM_USER, subject)
    send(stack, mail.as_bytes(), SPAM_USER, f"news@{QUARANTINING}")
    delivered = arrives(stack, tls_context, SPAM_USER, "Spam", subject)
    (header,) = ours(stack, delivered)
    assert "dmarc=fail (p=QUARANTINE dis=QUARANTINE)" in header, header
    assert fetch(stack, tls_context, SPAM_USER, "INBOX", subject) is None
    # The transaction log says why: the domain, its policy, what SPF and DKIM found.
    received = " ".join(str(value) for value in delivered.get_all("Received"))
    queue_id = re.search(r"with ESMTP id (\w+)", received).group(1)
    cli = Cli(stack.settings, tmp_path)
    [entry] = json.loads(cli.ok("log", "search", "--queue-id", queue_id, "--json").stdout)
    assert entry["verdicts"]["authentication"] == {
        "verdict": "quarantine",
        "reason": f"DMARC quarantine: {QUARANTINING} fails (SPF fail for {QUARANTINING}, "
                  "no DKIM signature): treated as spam, each recipient mailbox's spam "
                  "action applies"}
    assert entry["recipients"] == [{"address": SPAM_USER, "outcome": "accepted: into Spam"}]
    # And so does the milter's log line.
    assert (f"{queue_id}: stage=authentication verdict=quarantine reason=DMARC quarantine: "
            f"{QUARANTINING} fails (SPF fail for {QUARANTINING}, no DKIM signature)"
            ) in stack.layout.log("milter").read_text(errors="replace"), queue_id


def test_a_forged_result_claiming_our_host_is_removed_others_stay(zones, tls_context):
    stack, _ = zones
    authserv_id = service_host_names(stack.settings)[0]
    subject = f"forged results {uuid.uuid4().hex[:8]}"
    mail = message(f"Pat <pat@{PLAIN}>", INBOX_USER, subject)
    mail["Authentication-Results"] = f"{authserv_id}; dkim=pass header.d={HOSTED}"
    mail["Authentication-Results"] = "mx.elsewhere.example; spf=pass smtp.mailfrom=x@y.example"
    send(stack, mail.as_bytes(), INBOX_USER, f"pat@{PLAIN}")
    delivered = arrives(stack, tls_context, INBOX_USER, "INBOX", subject)
    (header,) = ours(stack, delivered)
    results = without_comments(header)
    assert "dkim=none" in results and "dkim=pass" not in results, header
    assert f"spf=pass smtp.mailfrom=pat@{PLAIN}" in results, header
    assert "dmarc=none" in results, header
    others = [str(value) for value in delivered.get_all("Authentication-Results")]
    assert any(value.strip().startswith("mx.elsewhere.example;") for value in others), others


def test_a_message_forwarded_outside_is_arc_sealed(zones, remote_mx):
    stack, private = zones
    subject = f"forwarded {uuid.uuid4().hex[:8]}"
    mail = message(f"Ann <ann@{SIGNER}>", FORWARDER, subject)
    send(stack, signed(mail, private), FORWARDER, f"bounces@{SIGNER}")
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        found = [raw for raw in remote_mx.received if subject.encode() in raw]
        if found:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"{subject!r} was not forwarded within {DELIVERY_TIMEOUT}s")
    raw = found[0]
    chain, results, reason = dkim.arc_verify(raw, dnsfunc=lookup(stack))
    assert chain == dkim.CV_Pass, (reason, results, raw[:3000])
    forwarded = email.message_from_bytes(raw, policy=email.policy.default)
    seal = " ".join(str(forwarded["ARC-Seal"]).split())
    assert f"d={HOSTED}" in seal and "cv=none" in seal and "i=1" in seal, seal
    aar = " ".join(str(forwarded["ARC-Authentication-Results"]).split())
    assert "dmarc=pass" in aar and f"dkim=pass header.d={SIGNER}" in aar, aar
    # The sender's own signature survives the forward too.
    assert dkim.verify(raw, dnsfunc=lookup(stack))
