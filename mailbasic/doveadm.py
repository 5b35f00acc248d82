"""doveadm, the one way mailbasic touches stored mail: Dovecot keeps its indexes and
quota usage right, which deleting Maildir files behind its back would not."""

from __future__ import annotations

import base64
import http.client
import io
import json
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from mailbasic.errors import MailbasicError

TIMEOUT_SECONDS = 600
USERS_RETRY_SECONDS = 1.0
READ_CHARACTERS = 64 * 1024


class DoveadmError(MailbasicError):
    """doveadm failed; the job stops and says why."""


@dataclass(frozen=True)
class Doveadm:
    command: tuple[str, ...]

    def run(self, *arguments: str) -> str:
        try:
            done = subprocess.run([*self.command, *arguments], capture_output=True,
                                  text=True, timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DoveadmError(f"doveadm {arguments[0]}: {error}") from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise DoveadmError(f"doveadm {' '.join(arguments)}: {reason}")
        return done.stdout

    def count(self, user: str, *query: str) -> int:
        """How many messages of `user` match the search query."""
        return len(self.run("search", "-u", user, *query).splitlines())

    def fetch_each(self, user: str, fields: str, *query: str,
                   overrides: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
        """The fields of each message matching the query, one message at a time:
        doveadm's JSON is parsed as it arrives, so a mailbox of any size takes the memory
        of its largest message. `overrides` are doveadm -o settings (name=value)."""
        options = [part for setting in overrides for part in ("-o", setting)]
        command = [*self.command, *options, "-f", "json", "fetch", "-u", user, fields,
                   *query]
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
            except OSError as error:
                raise DoveadmError(f"doveadm fetch: {error}") from None
            stdout = process.stdout
            assert stdout is not None  # stdout=PIPE
            timer = threading.Timer(TIMEOUT_SECONDS, process.kill)
            timer.start()
            try:
                yield from _json_array_items(io.TextIOWrapper(
                    stdout, encoding="utf-8", errors="surrogateescape"))
            except GeneratorExit:
                process.kill()  # the caller stopped reading
                raise
            except ValueError:
                process.kill()
                raise DoveadmError("doveadm fetch: unreadable output") from None
            finally:
                stdout.close()
                code = process.wait()
                timer.cancel()
            if code < 0:
                raise DoveadmError(f"doveadm fetch -u {user}: no end after "
                                   f"{TIMEOUT_SECONDS} s")
            if code != 0:
                errors.seek(0)
                lines = errors.read().decode("utf-8", "replace").strip().splitlines()
                raise DoveadmError(f"doveadm fetch -u {user}: "
                                   f"{(lines or [f'exit {code}'])[-1]}")

    def expunge(self, user: str, *query: str) -> None:
        self.run("expunge", "-u", user, *query)

    def users(self) -> list[str]:
        """Every user Dovecot's userdb iterates (the mailboxes' primary addresses). Asked
        once more after a failure: right after a PostgreSQL restart, the first query of
        each of Dovecot's auth workers fails on its dead pooled connection."""
        try:
            return self.run("user", "*").split()
        except DoveadmError:
            time.sleep(USERS_RETRY_SECONDS)
            return self.run("user", "*").split()


def _json_array_items(stream: io.TextIOBase) -> Iterator[dict]:
    """The objects of a JSON array, each as soon as it is complete."""
    decoder, buffer, wanted, ended = json.JSONDecoder(), "", READ_CHARACTERS, False
    while True:
        buffer = buffer.lstrip(" \t\r\n,[")
        if buffer.startswith("]") or (ended and not buffer):
            return
        if buffer:
            try:
                item, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                if ended:
                    raise
            else:
                buffer, wanted = buffer[end:], READ_CHARACTERS
                yield item
                continue
            # Not complete yet: read as much again as is buffered, so a large message
            # is parsed a few times rather than once per small read.
            wanted = max(wanted, len(buffer))
        chunk = stream.read(wanted)
        ended = not chunk
        buffer += chunk


API_TIMEOUT_SECONDS = 10.0
API_MAX_BYTES = 64 * 1024 * 1024  # the largest answer read: a message and its fields


@dataclass(frozen=True)
class DoveadmApi:
    """Dovecot's doveadm HTTP API (loopback, key in a header) for processes that may not
    run doveadm itself, such as the portal. One command per request."""

    url: str
    key: str

    def call(self, command: str, **parameters: object) -> list[dict[str, str]]:
        """The rows a command answers; a failure is a DoveadmError naming the command."""
        try:
            status, content = self._post(json.dumps([[command, parameters, "c"]]).encode())
        except (OSError, http.client.HTTPException) as error:
            raise DoveadmError(f"doveadm API {command}: {error}") from None
        if status != 200:
            raise DoveadmError(f"doveadm API {command}: HTTP {status}")
        if len(content) > API_MAX_BYTES:
            raise DoveadmError(f"doveadm API {command}: answer over {API_MAX_BYTES} bytes")
        try:
            answer = json.loads(content)
        except ValueError:
            raise DoveadmError(f"doveadm API {command}: unreadable answer") from None
        return _rows(command, answer)

    def _post(self, body: bytes) -> tuple[int, bytes]:
        # http.client, not urllib: urllib asks for "Connection: close", and Dovecot 2.3
        # then never answers a request it refuses (a wrong key) until the timeout.
        url = urllib.parse.urlsplit(self.url)
        kind = (http.client.HTTPSConnection if url.scheme == "https"
                else http.client.HTTPConnection)
        connection = kind(url.netloc, timeout=API_TIMEOUT_SECONDS)
        try:
            connection.request("POST", url.path or "/", body, headers={
                "Content-Type": "application/json",
                "Authorization": "X-Dovecot-API "
                                 + base64.b64encode(self.key.encode()).decode()})
            response = connection.getresponse()
            return response.status, response.read(API_MAX_BYTES + 1)
        finally:
            connection.close()


def _rows(command: str, answer: object) -> list[dict[str, str]]:
    """The rows of a `[["doveadmResponse", ROWS, tag]]` answer; an error answer
    (`[["error", {"exitCode": N}, tag]]`) or any other shape is a DoveadmError."""
    match answer:
        case [["doveadmResponse", list() as rows, _]] if all(isinstance(row, dict)
                                                               for row in rows):
            return rows
        case [["error", dict() as error, _]]:
            # doveadm's exit codes (sysexits): 67 is an unknown user, 68 nothing found.
            raise DoveadmError(f"doveadm API {command}: error {error.get('exitCode', '?')}")
    raise DoveadmError(f"doveadm API {command}: unreadable answer")
