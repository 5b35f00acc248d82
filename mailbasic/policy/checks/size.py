"""Size: the size Postfix announces (SIZE= at MAIL FROM, or counted at end of data)."""

from mailbasic.config import Settings
from mailbasic.directory import Directory
from mailbasic.policy.request import PolicyRequest, Verdict


class SizeCheck:
    name = "size"

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.limit = settings.message_size_limit

    def check(self, request: PolicyRequest) -> Verdict | None:
        if request.size is not None and request.size > self.limit:
            return Verdict(f"552 5.3.4 Message too big: this service accepts at most "
                           f"{self.limit} bytes", f"size {request.size} > {self.limit}")
        return None
