"""Sender: an authenticated client writes only its own mailbox's addresses in From:.

Postfix's policy (the sender_login check) already holds the envelope sender to the login;
the From: header is what recipients see, so "From: Alice CEO <alice@...>" sent with
another login is refused at end of data, 553 5.7.1, inside the transaction.
"""

from __future__ import annotations

from email.utils import getaddresses

from mailbasic.config import Settings
from mailbasic.directory import Directory, shared_directory
from mailbasic.milter.decisions import Outcome, Reply
from mailbasic.milter.message import Message


class SenderStage:
    name = "sender"

    def __init__(self, settings: Settings, directory: Directory | None = None) -> None:
        self.directory = directory or shared_directory(settings)

    def run(self, message: Message) -> Outcome:
        login = message.client.auth_user
        if not login:
            return Outcome(self.name, "pass", "not authenticated")
        values = [value.decode("utf-8", "replace") for name, value in message.headers
                  if name.lower() == "from"]
        addresses = [address.lower() for _, address in getaddresses(values) if address]
        owned = self.directory.addresses_of(login.lower())
        foreign = [address for address in addresses if address not in owned]
        if len(values) != 1 or not addresses or foreign:
            shown = foreign[0] if foreign else "(none)" if not addresses else "several"
            return Outcome(self.name, "reject", f"From: {shown} not of login {login}",
                           refusal=Reply("553", "5.7.1",
                                         f"From: header address <{shown}> is not an address "
                                         f"of the authenticated user {login}"
                                         if foreign else
                                         "Message refused: it needs exactly one From: "
                                         "header with the sender's own address"))
        return Outcome(self.name, "pass", f"From: {addresses[0]} of {login}")
