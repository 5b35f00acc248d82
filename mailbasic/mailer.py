"""Hands messages of our own (vacation replies, abuse notices) to the local Postfix
through sendmail.

Postfix's pickup queues them like any mail, so they are retried when the next hop is
down, and they do not pass smtpd's relay restrictions or our own milter again.
"""

from __future__ import annotations

import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor

from mailbasic.config import Settings

log = logging.getLogger("mailbasic.mailer")


class Mailer:
    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.command = [settings.sendmail_path]
        if settings.postfix_config_directory:
            self.command += ["-C", settings.postfix_config_directory]
        self.timeout = timeout
        # sendmail must not hold up the SMTP transaction that caused the reply.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mailer")

    def send(self, recipient: str, data: bytes) -> None:
        """Send with the null envelope sender (RFC 3834: automatic replies get no
        replies and no bounces). -i: a line holding only "." does not end the message."""
        completed = subprocess.run(
            self.command + ["-i", "-f", "<>", "--", recipient], input=data,
            capture_output=True, timeout=self.timeout, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"sendmail exited with {completed.returncode}: "
                               f"{completed.stderr.decode(errors='replace').strip()}")

    def send_later(self, queue_id: str, recipient: str, data: bytes,
                   stage: str = "vacation") -> None:
        """stage: who sends, for the log line (vacation, abuse)."""
        self.executor.submit(self._send_logged, queue_id, recipient, data, stage)

    def _send_logged(self, queue_id: str, recipient: str, data: bytes, stage: str) -> None:
        try:
            self.send(recipient, data)
            log.info("%s: stage=%s verdict=sent to=<%s>", queue_id, stage, recipient)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            log.error("%s: stage=%s verdict=failed to=<%s> reason=%s", queue_id, stage,
                      recipient, error)
