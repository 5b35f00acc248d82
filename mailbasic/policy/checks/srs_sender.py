"""SRS sender: an address of the SRS domain takes only bounces.

An SRS address stands for an outside address (the original sender of a forwarded
message); mail to it leaves the service again. Accepting it from anyone would relay for
anyone who can make one valid address, so only bounces (the null sender) and the hosts
in forwarding.srs_clients may use it. The SRS table itself refuses forged and expired
addresses.
"""

from ipaddress import ip_address, ip_network

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict
from mailbasic.srs import srs_domain


class SrsSenderCheck:
    name = "srs_sender"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.domain = srs_domain(settings)
        self.clients = [ip_network(network) for network in settings.srs_clients]

    def check(self, request: PolicyRequest) -> Verdict | None:
        if not request.at_rcpt or not request.sender:
            return None
        if request.recipient.rpartition("@")[2] != self.domain:
            return None
        if self._allowed_client(request.client_address):
            return None
        return Verdict("550 5.7.1 This address of the forwarding service accepts only "
                       "delivery status notifications (bounces, null sender)",
                       "SRS address from a non-null sender")

    def _allowed_client(self, address: str) -> bool:
        try:
            client = ip_address(address)
        except ValueError:
            return False
        return any(client in network for network in self.clients)
