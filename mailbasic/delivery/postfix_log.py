"""Postfix's own log, one line at a time: `parse(line)` gives a typed event, or None.

Pure: no I/O, no database, no state between lines; it never raises on any str.

Targets Postfix 3.7 (Debian 12's 3.7.x), checked against real lines of 3.7.11 in the
local stack (tests/unit/golden/postfix_log/) and the 3.7 sources of the messages. Its
postlogd writes `maillog_file` lines as

    Nov 30 05:56:55 mail postfix/lmtp[21215]: 1DAB6216047: to=<alice@example.net>, ...

that is strftime("%b %d %H:%M:%S") in the local time zone (English month, day zero-padded,
no year), the first label of myhostname, the service ($syslog_name/program, e.g.
"postfix/submission/smtpd") and the pid. The message texts are those of Postfix 3.x (3.0
added ", sasl_username=" to failed AUTH and the command counts to "disconnect"; lines
without them are read too). The same lines from syslog are read as well: traditional
stamps (day space-padded) and RFC 3339 ones ("2026-11-30T05:56:55.123456+01:00", rsyslog's
default on Debian 12, journalctl -o short-iso).

Time: a syslog-style stamp has no year and no zone. The year is `year` when given, else
that of `now` (default: the clock), or the year before when that would put the line more
than a day after `now` (a December line read in January). The zone is `tz` when given,
else the zone of this machine (Postfix logs in its local time). Times are always aware.

The result for each line:
- an event below, when the line is one of the kinds in _KINDS and all its fields parse;
- `Unparsed`, when it starts like one of those kinds but does not parse (cut off,
  garbage, an address with angle brackets in it), or when its text is 2000 characters or
  more: Postfix cut it there (see MAX_TEXT);
- None for any other line: other messages, other programs, not a log line at all.

Client values (addresses, HELO names, SASL user names) are logged by Postfix as the client
gave them, printable characters only; where the format is ambiguous the parse prefers the
reading that lets the client control the least (e.g. the reason of a failed AUTH ends at
the first ", sasl_username=").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TypedDict

__all__ = [
    "MAX_TEXT", "AuthFailed", "Connect", "Delivery", "Disconnect", "Event", "Expired",
    "LimitExceeded", "MessageId", "Notification", "Queued", "Rejected", "Removed",
    "SessionEvent", "SessionLost", "SessionQueued", "TlsEstablished", "Unparsed", "parse",
]

# Postfix cuts a message's text at 2000 bytes (MSG_LOGGER_RECLEN, MSG_SYSLOG_RECLEN; after
# the "warning: " of a warning). A text that long was cut: its end is missing, so it is
# Unparsed, not looked into, which also bounds what a line can cost.
MAX_TEXT = 2000
_SEVERITY = re.compile(r"(?:warning|error|fatal|panic): ")


# -- the events --------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Event:
    """What every line has: when, which host, which service ("postfix/smtp"), which pid."""

    time: datetime
    host: str
    service: str
    pid: int


@dataclass(frozen=True, kw_only=True)
class Delivery(Event):
    """A delivery attempt for one recipient: `QID: to=<...>, relay=..., status=...`."""

    queue_id: str
    recipient: str
    orig_recipient: str | None          # orig_to=, when the address was rewritten
    relay: str                          # "mx.example.com[192.0.2.1]:25", "none", ...
    relay_host: str | None              # None for "none"
    relay_address: str | None           # between the brackets (an LMTP socket's path)
    relay_port: int | None
    conn_use: int | None                # a cached connection's use count
    delay: float
    delays: tuple[float, float, float, float]  # before queue, in queue, setup, transfer
    dsn: str
    status: str      # sent, deferred, bounced, expired; deliverable, undeliverable (verify)
    reply: str       # the text in parentheses, as logged (may contain parentheses)


@dataclass(frozen=True, kw_only=True)
class Expired(Event):
    """qmgr gave up on a message: `QID: from=<...>, status=expired, returned to sender`."""

    queue_id: str
    sender: str
    reason: str                         # "expired", or "force-expired" (postsuper -e)


@dataclass(frozen=True, kw_only=True)
class Notification(Event):
    """bounce made a notification message: `QID: sender non-delivery notification: NEW`."""

    queue_id: str
    recipient: str                      # "sender" or "postmaster"
    kind: str        # "non-delivery", "delay", or "delivery" (Postfix: "delivery status":
    #                  success DSNs and `sendmail -bv` reports)
    new_queue_id: str


@dataclass(frozen=True, kw_only=True)
class MessageId(Event):
    """cleanup's `QID: message-id=<...>` (made up by cleanup when the message had none)."""

    queue_id: str
    message_id: str                     # without the enclosing angle brackets
    resent: bool                        # resent-message-id=


@dataclass(frozen=True, kw_only=True)
class Queued(Event):
    """qmgr took a message in: `QID: from=<...>, size=N, nrcpt=N (queue active)`."""

    queue_id: str
    sender: str
    size: int
    nrcpt: int


@dataclass(frozen=True, kw_only=True)
class Removed(Event):
    """`QID: removed`: the message left the queue (qmgr, or postsuper -d)."""

    queue_id: str


@dataclass(frozen=True, kw_only=True)
class SessionEvent(Event):
    """A line of an smtpd session; (service, pid) names the session while it lasts."""

    client_name: str                    # "unknown" without reverse DNS
    client_address: str                 # IPv4 or IPv6, without brackets
    client_port: int | None             # with smtpd_client_port_logging = yes


@dataclass(frozen=True, kw_only=True)
class Connect(SessionEvent):
    """`connect from name[address]:port`."""


@dataclass(frozen=True, kw_only=True)
class TlsEstablished(SessionEvent):
    """`Anonymous TLS connection established from ...: TLSv1.3 with cipher ... (256/256
    bits) ...` (smtpd_tls_loglevel >= 1)."""

    trust: str                          # Anonymous, Untrusted, Trusted, Verified
    reused: bool                        # "reused" (a resumed session), not "established"
    sni: str | None                     # the server name the client asked for, if accepted
    protocol: str                       # "TLSv1.3"
    cipher: str                         # "TLS_AES_256_GCM_SHA384"
    cipher_bits: int
    algorithm_bits: int


@dataclass(frozen=True, kw_only=True)
class AuthFailed(SessionEvent):
    """`warning: name[address]:port: SASL PLAIN authentication failed: REASON,
    sasl_username=USER`, and `... SASL LOGIN authentication aborted` (the client sent
    "*"; reason "authentication aborted")."""

    mechanism: str                      # as the client named it
    reason: str                         # Dovecot's, e.g. "(reason unavailable)"
    sasl_username: str | None           # the name tried; None when Postfix had none


@dataclass(frozen=True, kw_only=True)
class SessionQueued(SessionEvent):
    """`QID: client=name[address]:port, sasl_method=PLAIN, sasl_username=...`: the session
    opened a queue file (its MAIL FROM was accepted)."""

    queue_id: str
    sasl_method: str | None             # set when the session authenticated
    sasl_username: str | None
    sasl_sender: str | None


@dataclass(frozen=True, kw_only=True)
class Rejected(SessionEvent):
    """`NOQUEUE: reject: RCPT from name[address]:port: 550 5.1.1 <x>: ...; from=<...>
    to=<...> proto=ESMTP helo=<...>`; also a milter's ("milter-reject")."""

    queue_id: str | None                # None for NOQUEUE
    action: str                         # "reject" or "milter-reject"
    stage: str              # CONNECT, HELO, EHLO, MAIL, RCPT, DATA, END-OF-MESSAGE, ...
    reply: str                          # "550 5.1.1 <x@example.net>: Recipient ..."
    reply_code: int                     # 550
    dsn: str | None                     # "5.1.1"
    sender: str | None                  # from=<>: ""; None when not logged
    recipient: str | None
    protocol: str | None                # SMTP, ESMTP
    helo: str | None
    sasl_username: str | None           # logged with milter rejects of an AUTH session


@dataclass(frozen=True, kw_only=True)
class SessionLost(SessionEvent):
    """`lost connection after AUTH from ...`, `timeout after DATA (36 bytes) from ...`,
    `too many errors after UNKNOWN from ...`: the session ended abnormally."""

    what: str               # the line before " from ": "timeout after DATA (36 bytes)"
    reason: str     # lost connection, timeout, too many errors, bare <LF> received
    after: str      # the last command: CONNECT, EHLO, STARTTLS, AUTH, DATA, BDAT, ...
    data_bytes: int | None              # after DATA or BDAT: bytes received so far


@dataclass(frozen=True, kw_only=True)
class Disconnect(SessionEvent):
    """`disconnect from name[address]:port ehlo=1 auth=0/1 quit=1 commands=2/3`."""

    commands: str | None    # "ehlo=1 auth=0/1 quit=1 commands=2/3" (None before Postfix 3)

    @property
    def command_counts(self) -> dict[str, tuple[int, int]]:
        """{"ehlo": (1, 1), "auth": (0, 1), ...}: (accepted, given) for each command."""
        counts = {}
        for item in (self.commands or "").split():
            name, _, value = item.partition("=")
            ok, _, total = value.partition("/")
            counts[name] = (int(ok), int(total or ok))
        return counts


@dataclass(frozen=True, kw_only=True)
class LimitExceeded(SessionEvent):
    """`warning: Connection rate limit exceeded: 31 from name[address]:port for service
    smtp` (anvil limits: connection rate/concurrency, message, recipient, TLS, AUTH)."""

    limit: str                          # "Connection rate", "AUTH command rate", ...
    value: int
    listener: str                       # master.cf service: "smtp", "127.0.0.1:10587"


@dataclass(frozen=True, kw_only=True)
class Unparsed(Event):
    """A line that starts like one of the kinds here but does not parse."""

    kind: str                           # the kind it looked like: "delivery", ...
    message: str                        # the text after "service[pid]: "


# -- the parts ---------------------------------------------------------------------------

# Short (hex) and long (enable_long_queue_ids) queue ids; "NOQUEUE" stands for none.
_QID = r"(?!NOQUEUE\b)[0-9A-Za-z]{5,32}"
_NUM = r"\d{1,12}(?:\.\d{1,12})?"
_CLIENT = (r"(?P<client_name>[^\s\[\]]*)\[(?P<client_address>[^\s\[\]]*)\]"
           r"(?::(?P<client_port>\d{1,5}))?")
_SMTPD = frozenset({"smtpd"})
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    start=1)}

_HEADER = re.compile(
    r"(?:(?P<month>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<clock>\d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)?))"
    r" (?P<host>[^\s\[\]]{1,255}) (?P<service>[^\s\[\]]{1,255})\[(?P<pid>\d{1,10})\]: ")


class _Common(TypedDict):
    time: datetime
    host: str
    service: str
    pid: int


class _Client(TypedDict):
    client_name: str
    client_address: str
    client_port: int | None


def _client(match: re.Match[str]) -> _Client:
    port = match["client_port"]
    return {"client_name": match["client_name"], "client_address": match["client_address"],
            "client_port": int(port) if port is not None else None}


def _optional(value: str | None, *absent: str) -> str | None:
    return None if value is None or value in absent else value


# -- one function per kind of line -------------------------------------------------------
# Each gets the common fields and the message; None means "not in the expected form".

_Builder = Callable[[_Common, str], Event | None]

_DELIVERY = re.compile(
    rf"(?P<queue_id>{_QID}): to=<(?P<recipient>.*?)>(?:, orig_to=<(?P<orig>.*?)>)?"
    rf", relay=(?P<relay>\S+?)(?:, conn_use=(?P<conn_use>\d{{1,9}}))?"
    rf", delay=(?P<delay>{_NUM}), delays=(?P<delays>{_NUM}/{_NUM}/{_NUM}/{_NUM})"
    r", dsn=(?P<dsn>[245]\.\d{1,3}\.\d{1,3}), status=(?P<status>[a-z-]+) \((?P<reply>.*)\)")
_RELAY = re.compile(r"(?P<host>[^\s\[\]]*)\[(?P<address>[^\s\[\]]*)\](?::(?P<port>\d{1,5}))?")


def _delivery(common: _Common, message: str) -> Event | None:
    match = _DELIVERY.fullmatch(message)
    if match is None:
        return None
    relay = match["relay"]
    host: str | None = relay if relay != "none" else None
    address = port = None
    if parts := _RELAY.fullmatch(relay):
        host, address = parts["host"], parts["address"]
        port = int(parts["port"]) if parts["port"] is not None else None
    first, queue, setup, transfer = (float(value) for value in match["delays"].split("/"))
    conn_use = match["conn_use"]
    return Delivery(**common, queue_id=match["queue_id"], recipient=match["recipient"],
                    orig_recipient=match["orig"], relay=relay, relay_host=host,
                    relay_address=address, relay_port=port,
                    conn_use=int(conn_use) if conn_use is not None else None,
                    delay=float(match["delay"]), delays=(first, queue, setup, transfer),
                    dsn=match["dsn"], status=match["status"], reply=match["reply"])


_EXPIRED = re.compile(rf"(?P<queue_id>{_QID}): from=<(?P<sender>.*)>"
                      r", status=(?P<reason>expired|force-expired), returned to sender")


def _expired(common: _Common, message: str) -> Event | None:
    match = _EXPIRED.fullmatch(message)
    if match is None:
        return None
    return Expired(**common, queue_id=match["queue_id"], sender=match["sender"],
                             reason=match["reason"])


_QUEUED = re.compile(rf"(?P<queue_id>{_QID}): from=<(?P<sender>.*)>"
                     r", size=(?P<size>\d{1,15}), nrcpt=(?P<nrcpt>\d{1,9}) \(queue active\)")


def _queued(common: _Common, message: str) -> Event | None:
    match = _QUEUED.fullmatch(message)
    if match is None:
        return None
    return Queued(**common, queue_id=match["queue_id"], sender=match["sender"],
                            size=int(match["size"]), nrcpt=int(match["nrcpt"]))


_NOTIFICATION = re.compile(
    rf"(?P<queue_id>{_QID}): (?P<recipient>sender|postmaster)"
    rf" (?P<kind>non-delivery|delay|delivery status) notification: (?P<new>{_QID})")


def _notification(common: _Common, message: str) -> Event | None:
    match = _NOTIFICATION.fullmatch(message)
    if match is None:
        return None
    return Notification(**common, queue_id=match["queue_id"],
                                  recipient=match["recipient"],
                                  kind=match["kind"].removesuffix(" status"),
                                  new_queue_id=match["new"])


_MESSAGE_ID = re.compile(rf"(?P<queue_id>{_QID}): (?P<resent>resent-)?message-id=(?P<id>.*)")


def _message_id(common: _Common, message: str) -> Event | None:
    match = _MESSAGE_ID.fullmatch(message)
    if match is None:
        return None
    value = match["id"]
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return MessageId(**common, queue_id=match["queue_id"], message_id=value,
                     resent=match["resent"] is not None)


_REMOVED = re.compile(rf"(?P<queue_id>{_QID}): removed")


def _removed(common: _Common, message: str) -> Event | None:
    match = _REMOVED.fullmatch(message)
    if match is None:
        return None
    return Removed(**common, queue_id=match["queue_id"])


_CONNECT = re.compile(rf"connect from {_CLIENT}")


def _connect(common: _Common, message: str) -> Event | None:
    match = _CONNECT.fullmatch(message)
    if match is None:
        return None
    return Connect(**common, **_client(match))


_DISCONNECT = re.compile(rf"disconnect from {_CLIENT}(?P<commands>(?: [a-z]+=\d+(?:/\d+)?)*)")


def _disconnect(common: _Common, message: str) -> Event | None:
    match = _DISCONNECT.fullmatch(message)
    if match is None:
        return None
    return Disconnect(**common, **_client(match),
                                commands=match["commands"].strip() or None)


_TLS = re.compile(
    rf"(?P<trust>Anonymous|Untrusted|Trusted|Verified) TLS connection"
    rf" (?P<usage>established|reused) from {_CLIENT}(?: to (?P<sni>[^\s:]+))?"
    r": (?P<protocol>\S+) with cipher (?P<cipher>\S+)"
    r" \((?P<bits>\d{1,6})/(?P<algorithm_bits>\d{1,6}) bits\)(?: .*)?")


def _tls(common: _Common, message: str) -> Event | None:
    match = _TLS.fullmatch(message)
    if match is None:
        return None
    return TlsEstablished(
        **common, **_client(match), trust=match["trust"],
        reused=match["usage"] == "reused", sni=match["sni"], protocol=match["protocol"],
        cipher=match["cipher"], cipher_bits=int(match["bits"]),
        algorithm_bits=int(match["algorithm_bits"]))


# The reason (from Dovecot) ends at the first ", sasl_username=": the name after it is the
# client's own, and may contain anything, ", sasl_username=" too.
_AUTH_FAILED = re.compile(
    rf"warning: {_CLIENT}: SASL (?P<mechanism>\S+) authentication"
    r"(?: failed: (?P<reason>.*?)(?:, sasl_username=(?P<username>.*))?| (?P<aborted>aborted))")


def _auth_failed(common: _Common, message: str) -> Event | None:
    match = _AUTH_FAILED.fullmatch(message)
    if match is None:
        return None
    aborted = match["aborted"] is not None
    return AuthFailed(**common, **_client(match), mechanism=match["mechanism"],
                      reason="authentication aborted" if aborted else match["reason"],
                      sasl_username=_optional(match["username"], "", "(unavailable)"))


_SESSION_QUEUED = re.compile(
    rf"(?P<queue_id>{_QID}): client={_CLIENT}"
    r"(?:, sasl_method=(?P<method>[^\s,]+))?(?:, sasl_username=(?P<username>[^,]*))?"
    r"(?:, sasl_sender=(?P<sender>.*?))?"
    rf"(?:, orig_queue_id=(?:{_QID}|NOQUEUE))?(?:, orig_client=\S+)?")


def _session_queued(common: _Common, message: str) -> Event | None:
    match = _SESSION_QUEUED.fullmatch(message)
    if match is None:
        return None
    return SessionQueued(**common, **_client(match), queue_id=match["queue_id"],
                                   sasl_method=match["method"],
                                   sasl_username=match["username"],
                                   sasl_sender=match["sender"])


_REJECTED = re.compile(
    rf"(?:(?P<queue_id>{_QID})|NOQUEUE): (?P<action>reject|milter-reject):"
    rf" (?P<stage>[A-Z][A-Z-]*(?: content)?) from {_CLIENT}: (?P<rest>.*)")
# What Postfix appends after the reply; the reply itself may contain ";". Addresses with
# angle brackets in them do not parse (Unparsed) rather than cost backtracking.
_WHATSUP = re.compile(
    r"(?P<reply>.*);(?: from=<(?P<sender>[^<>]*)>)?(?: to=<(?P<recipient>[^<>]*)>)?"
    r"(?: proto=(?P<protocol>[^\s;<>]+))?(?: helo=<(?P<helo>[^<>]*)>)?"
    r"(?: sasl_username=<(?P<username>[^<>]*)>)?")
_REPLY = re.compile(r"(?P<code>[245]\d\d)(?: (?P<dsn>[245]\.\d{1,3}\.\d{1,3}))?(?: .*)?")


def _rejected(common: _Common, message: str) -> Event | None:
    match = _REJECTED.fullmatch(message)
    if match is None:
        return None
    rest = match["rest"]
    whatsup = None
    if ";" in rest:     # log_whatsup's lines: "REPLY;" and what is known of the envelope
        whatsup = _WHATSUP.fullmatch(rest)
        if whatsup is None:
            return None
    reply = whatsup["reply"] if whatsup else rest
    code = _REPLY.fullmatch(reply)
    if code is None:
        return None
    return Rejected(**common, **_client(match), queue_id=match["queue_id"],
                    action=match["action"], stage=match["stage"], reply=reply,
                    reply_code=int(code["code"]), dsn=code["dsn"],
                    sender=whatsup and whatsup["sender"],
                    recipient=whatsup and whatsup["recipient"],
                    protocol=whatsup and whatsup["protocol"], helo=whatsup and whatsup["helo"],
                    sasl_username=whatsup and whatsup["username"])


_SESSION_LOST = re.compile(
    r"(?P<what>(?P<reason>lost connection|timeout|too many errors|bare <LF> received)"
    r" after (?P<after>[A-Z][A-Z-]*(?: content)?)(?: \((?P<bytes>\d{1,15}) bytes\))?)"
    rf" from {_CLIENT}")


def _session_lost(common: _Common, message: str) -> Event | None:
    match = _SESSION_LOST.fullmatch(message)
    if match is None:
        return None
    return SessionLost(
        **common, **_client(match), what=match["what"], reason=match["reason"],
        after=match["after"], data_bytes=int(match["bytes"]) if match["bytes"] else None)


_LIMIT = re.compile(rf"warning: (?P<limit>[A-Za-z ]+?) limit exceeded: (?P<value>\d{{1,9}})"
                    rf" from {_CLIENT} for service (?P<listener>\S+)")


def _limit(common: _Common, message: str) -> Event | None:
    match = _LIMIT.fullmatch(message)
    if match is None:
        return None
    return LimitExceeded(**common, **_client(match), limit=match["limit"],
                                   value=int(match["value"]), listener=match["listener"])


# -- which kind a line is ----------------------------------------------------------------

@dataclass(frozen=True)
class _Kind:
    name: str
    programs: frozenset[str] | None     # the service's last part ("smtpd"); None: any
    start: re.Pattern[str]              # how a message of this kind begins
    build: _Builder


def _kind(name: str, programs: frozenset[str] | None, start: str, build: _Builder) -> _Kind:
    return _Kind(name, programs, re.compile(start.replace("QID", _QID)), build)


# In order: the first whose start matches decides.
_KINDS = (
    _kind("delivery", None, r"QID: to=<", _delivery),
    _kind("queued", None, r"QID: from=<.*>, size=", _queued),
    _kind("expired", None, r"QID: from=<.*>, status=", _expired),
    _kind("notification", None, r"QID: (?:sender|postmaster) [a-z -]+ notification: ",
          _notification),
    _kind("message-id", None, r"QID: (?:resent-)?message-id=", _message_id),
    _kind("removed", None, r"QID: removed$", _removed),
    _kind("connect", _SMTPD, r"connect from ", _connect),
    _kind("disconnect", _SMTPD, r"disconnect from ", _disconnect),
    _kind("tls", _SMTPD, r"[A-Z][a-z]+ TLS connection (?:established|reused) from ", _tls),
    _kind("auth-failed", _SMTPD, r"warning: \S*: SASL \S+ authentication (?:failed|aborted)",
          _auth_failed),
    _kind("session-queued", _SMTPD, r"QID: client=", _session_queued),
    _kind("rejected", _SMTPD, r"(?:QID|NOQUEUE): (?:reject|milter-reject): ", _rejected),
    _kind("session-lost", _SMTPD,
          r"(?:lost connection|timeout|too many errors|bare <LF> received) after ",
          _session_lost),
    _kind("limit", _SMTPD, r"warning: [A-Za-z ]+ limit exceeded: ", _limit),
)


# -- the entry point ---------------------------------------------------------------------

def parse(line: str, *, year: int | None = None, now: datetime | None = None,
          tz: tzinfo | None = None) -> Event | None:
    """The event of one log line (a trailing newline is ignored), Unparsed, or None.

    year, now, tz: see the module's doc; only syslog-style stamps (no year, no zone) use
    them.
    """
    text = line.rstrip("\r\n")
    header = _HEADER.match(text)
    if header is None:
        return None
    time = _time(header, year, now, tz)
    if time is None:
        return None
    service = header["service"]
    common: _Common = {"time": time, "host": header["host"], "service": service,
                       "pid": int(header["pid"])}
    message = text[header.end():]
    program = service.rpartition("/")[2]
    severity = _SEVERITY.match(message)
    cut = len(message) - (severity.end() if severity else 0) >= MAX_TEXT
    for kind in _KINDS:
        if kind.programs is not None and program not in kind.programs:
            continue
        if not kind.start.match(message, 0, MAX_TEXT + 20):
            continue
        event = None
        if not cut:
            try:
                event = kind.build(common, message)
            except ValueError:      # a field out of range; the patterns leave no other
                event = None
        return event or Unparsed(**common, kind=kind.name, message=message)
    return None


def _time(header: re.Match[str], year: int | None, now: datetime | None,
          tz: tzinfo | None) -> datetime | None:
    try:
        if header["iso"] is not None:
            stamp = datetime.fromisoformat(header["iso"])
            return stamp if stamp.tzinfo else _zoned(stamp, tz)
        month = _MONTHS.get(header["month"])
        if month is None:
            return None
        day = int(header["day"])
        hour, minute, second = (int(part) for part in header["clock"].split(":"))
        if year is not None:
            return _zoned(datetime(year, month, day, hour, minute, second), tz)
    except (ValueError, OverflowError):     # no such date, or none this machine can zone
        return None
    reference = now if now is not None else datetime.now(tz)
    if reference.tzinfo is None:
        reference = _zoned(reference, tz)
    for candidate in (reference.year, reference.year - 1):
        try:
            stamp = _zoned(datetime(candidate, month, day, hour, minute, second), tz)
        except (ValueError, OverflowError):
            continue
        if stamp <= reference + timedelta(days=1):
            return stamp
    return None


def _zoned(naive: datetime, tz: tzinfo | None) -> datetime:
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
