"""One immutable Settings object, loaded once from a TOML file and MAILBASIC_* variables.

Every key the file may hold is listed in ``_KEYS``; an unknown key is an error, because a
mistyped setting that silently falls back to its default is how mail gets lost.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any, Literal, cast, get_args

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mailbasic.errors import ConfigError

GIB = 1024**3
MIB = 1024**2
# The most any size (quota, message size limit, ...) may be: far above any mailbox, far
# below what the BIGINT columns hold (2**63 - 1), so a typo is refused as input instead
# of reaching PostgreSQL as an out-of-range error.
MAX_SIZE = 1024**5
MAX_SIZE_TEXT = f"1 PiB ({MAX_SIZE} bytes)"

_SIZE_UNITS = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024**4}
_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._/-]*$")
_DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def parse_size(text: str | int) -> int:
    """Turn "1G", "20M", "512 KiB" or a plain integer into bytes (binary units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return check_size(text, text)
    match = _SIZE_PATTERN.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 1G, 500M, 20971520)")
    digits = match.group(1).lstrip("0")
    # Python refuses to convert more than 4300 digits; far fewer already exceed the ceiling.
    if len(digits) > len(str(MAX_SIZE)):
        raise ValueError(_too_large(text))
    return check_size(int(digits or "0") * _SIZE_UNITS[match.group(2).upper()], text)


def check_size(size: int, shown: str | int | None = None) -> int:
    """The one place sizes are bounded: positive and at most MAX_SIZE."""
    shown = size if shown is None else shown
    if size <= 0:
        raise ValueError(f"size must be positive, got {shown!r}")
    if size > MAX_SIZE:
        raise ValueError(_too_large(shown))
    return size


def _too_large(shown: str | int) -> str:
    return f"size must be at most {MAX_SIZE_TEXT}, got {shown!r}"


def is_domain_name(name: str) -> bool:
    return bool(_DOMAIN_PATTERN.match(name))


# Role and system names (RFC 2142 and the usual daemons): mail to them is meant for the
# service's operators, so no customer may take them. Some are shorter than a local part
# may be (5 characters) and could never be taken anyway; they are listed for whoever
# relaxes that rule.
RESERVED_LOCAL_PARTS = ("postmaster", "abuse", "hostmaster", "webmaster", "admin",
                        "administrator", "root", "noreply", "no-reply", "mailer-daemon",
                        "ssl-admin", "ssladmin", "security", "sysadmin", "www", "uucp",
                        "usenet", "news", "ftp", "nobody", "daemon")

# The settings that take one of a few fixed values.
UnscannableAction = Literal["tempfail", "reject"]
QuotaRefusal = Literal["permanent", "temporary"]
LogStart = Literal["beginning", "end"]
SmsContentType = Literal["application/json", "application/x-www-form-urlencoded"]
SpamEngine = Literal["spamassassin", "rspamd"]


@dataclass(frozen=True)
class Settings:
    # None for a component that needs no database (the SRS table): its configuration
    # holds no credentials at all.
    database_url: str | None = None
    # The daemons' client-side deadline on every database call (a frozen server answers
    # nothing, so only the client can keep time): past it, 451 / TEMP.
    database_deadline: float = 10.0
    # Each daemon process's one connection pool: this many, and as many again at peaks.
    database_pool_size: int = 20
    service_domain: str = "example.net"
    # The names the service's own servers answer as; none of them can be a hosted domain.
    host_names: tuple[str, ...] | None = None   # default: mail.<service domain>
    # Local parts no customer, mailbox or address may take, compared ignoring case.
    reserved_local_parts: tuple[str, ...] = RESERVED_LOCAL_PARTS
    # Mail to these local parts of every hosted domain (RFC 2142) goes to role_mailbox,
    # an address of the provider's own mailbox; unset, they are unknown like any other.
    role_mailbox: str | None = None
    role_local_parts: tuple[str, ...] = ("postmaster", "abuse")
    mail_root: str = "/var/vmail"
    default_quota_bytes: int = GIB
    # An address given up is held this long before another customer may take it (0: not
    # at all), so mail for its former owner reaches nobody else.
    address_hold_days: int = 180
    message_size_limit: int = 20 * MIB
    bcrypt_cost: int = 11
    milter_socket: str = "inet:10030@127.0.0.1"
    # Worker processes (0: one per CPU). One Python process computes on one core at a
    # time, so a milter of one process uses one core however many the server has.
    milter_workers: int = 0
    spool_threshold: int = 256 * 1024
    # Bodies above the threshold, mode 0600; emptied when the milter starts (a killed
    # milter leaves the messages it was reading).
    spool_directory: str = "/var/spool/mailbasic"
    # `mailbasic lookups`: Postfix's account lookups (socketmap) with deadlines.
    lookup_socket: str = "unix:/run/mailbasic/lookups.sock"
    spamd_host: str = "127.0.0.1"
    spamd_port: int = 783
    spamd_timeout: float = 20.0
    spamd_fail_open: bool = False
    spamd_default_user: str = "mailbasic"
    spam_scan_cap: int = MIB
    # Authenticated submissions are always scanned (a login sending spam: mailbasic/abuse/)
    # but tagged only when this is true.
    spam_scan_authenticated: bool = False
    # Which engine the spam stage asks: rspamd (HTTP /checkv2, the default: ten times
    # spamd's throughput in bench/milter_bench.py, the same verdicts on its corpus) or
    # SpamAssassin's spamd (SPAMC/1.5, [spam] engine = "spamassassin", still supported).
    # spamd.fail_open, scan_cap, scan_authenticated and default_user apply to either;
    # rspamd has its own address and timeout.
    spam_engine: SpamEngine = "rspamd"
    rspamd_host: str = "127.0.0.1"
    rspamd_port: int = 11333
    rspamd_timeout: float = 20.0
    # The resolvers the milter's sender checks (SPF, DKIM, DMARC, ARC) ask, "IP:PORT"
    # each; empty: the system's (/etc/resolv.conf).
    dns_nameservers: tuple[str, ...] = ()
    clamd_host: str = "127.0.0.1"
    clamd_port: int = 3310
    clamd_timeout: float = 30.0
    # What will never pass a virus scan is refused for good (554 5.7.1) with these texts;
    # unscannable_action = "tempfail" answers 451 instead (for an operator's migration).
    unscannable_action: UnscannableAction = "reject"
    too_deep_text: str = ("Message refused: its MIME parts are nested too deeply to be "
                          "scanned for viruses")
    too_many_parts_text: str = ("Message refused: it has too many MIME parts to be scanned "
                                "for viruses")
    encrypted_text: str = ("Message refused: it contains an encrypted archive, which "
                           "cannot be scanned for viruses")
    over_limits_text: str = ("Message refused: its content exceeds the virus scanner's "
                             "limits (archive depth, size or file count)")
    log_retention_days: int = 180
    # `mailbasic delivery-log` reads Postfix's own log file (maillog_file) as it grows;
    # from its beginning on the first run, unless delivery_log_start is "end".
    delivery_log_file: str = "/var/log/postfix.log"
    delivery_log_start: LogStart = "beginning"
    delivery_log_batch_lines: int = 2000
    delivery_log_poll_seconds: float = 0.25
    # The milter records each connection's HELO name (Postfix's log has the rest).
    log_connections: bool = True
    # `mailbasic portal`: the customer portal and the admin API behind nginx, on a unix
    # socket. The secret key signs the session cookies (32+ characters, kept); base_url
    # is what invitation and support links start with.
    portal_socket: str = "unix:/run/mailbasic/portal.sock"
    portal_secret_key: str | None = None
    portal_base_url: str = "https://127.0.0.1:10443"
    portal_invite_hours: int = 72
    portal_session_minutes: int = 60
    portal_threads: int = 16
    # The ports mail clients use on service_host_names()[0], as the portal's
    # autoconfiguration (Thunderbird, Outlook) names them: implicit TLS and STARTTLS.
    client_imaps_port: int = 993
    client_imap_port: int = 143
    client_pop3s_port: int = 995
    client_pop3_port: int = 110
    client_submissions_port: int = 465
    client_submission_port: int = 587
    policy_socket: str = "inet:10040@127.0.0.1"
    policy_checks: tuple[str, ...] = ("size", "srs_sender", "sending_login", "sender_login",
                                      "rate_limit", "recipient", "inactive", "quota",
                                      "quota_alone")
    policy_cache_seconds: float = 30.0
    inactive_text: str = ("the mailbox of this recipient is inactive and does not "
                          "receive mail")
    quota_refusal: QuotaRefusal = "permanent"
    rate_messages_per_hour: int = 200
    rate_recipients_per_hour: int = 1000
    policy_workers: int = 2
    # `mailbasic auth-policy`: Dovecot's authentication policy server (IMAP, POP3 and
    # SMTP AUTH, on loopback TCP: Dovecot's HTTP client needs host:port); the portal's
    # logins share its counters and decision. Failures are counted per client address,
    # per IPv6 /64 and per account. Past free_failures each try waits 1, 2, 4, ... up to
    # max_delay_seconds; at the block_failures the client (or the account, for clients
    # that never logged in to it) is refused for block_minutes. forget_hours without a
    # failure start afresh; a network stays known to an account known_client_days after
    # its last successful login. Trusted networks (monitoring, a webmail host) are not
    # counted as clients, only their logins' accounts are.
    auth_policy_socket: str = "inet:10045@127.0.0.1"
    auth_free_failures: int = 3
    auth_max_delay_seconds: int = 15
    auth_client_block_failures: int = 10
    auth_account_block_failures: int = 30
    auth_block_minutes: int = 15
    auth_forget_hours: int = 24
    auth_known_client_days: int = 90
    auth_trusted_networks: tuple[str, ...] = ()
    # `mailbasic managesieve`: RFC 5804 on managesieve_socket, logins checked by Dovecot's
    # auth on its client socket (Postfix's SMTP AUTH one), TLS with the mail servers'
    # certificate; the active script is the mailbox's filters.
    managesieve_socket: str = "inet:4190@0.0.0.0"
    managesieve_auth_socket: str = "/var/spool/postfix/private/auth"
    managesieve_certificate: str = "/etc/mailbasic/tls/mail.crt"
    managesieve_key: str = "/etc/mailbasic/tls/mail.key"
    # The name of the active script when filters or a vacation were set elsewhere (CLI,
    # portal). SOGo activates its script ("sogo") only when no other is active: name it
    # "sogo" where SOGo is the webmail.
    managesieve_default_script: str = "mailbasic"
    # Vacation replies leave through the local Postfix's sendmail (pickup), so they are
    # queued and retried like any mail; config_directory selects a non-default instance.
    sendmail_path: str = "/usr/sbin/sendmail"
    postfix_config_directory: str | None = None
    # Mail forwarded to outside domains gets an SRS envelope sender in srs_domain, signed
    # with the first secret; every secret verifies. `mailbasic srs` answers Postfix's
    # lookups of those addresses on srs_socket, so bounces find the original sender.
    srs_secrets: tuple[str, ...] = ()
    srs_domain: str | None = None      # default: srs.<service domain>
    srs_max_age_days: int = 21
    srs_socket: str = "unix:/run/mailbasic/srs.sock"
    # Hosts (networks in CIDR notation) that may send to SRS addresses with a sender
    # other than the null sender; everybody else may only bounce to them.
    srs_clients: tuple[str, ...] = ()
    rules_max_redirects: int = 4
    # The maintenance jobs (`mailbasic jobs NAME`). A mailbox counts as used from its
    # last IMAP or POP3 login, its creation or its reactivation, whichever is latest.
    deactivate_after_days: int = 90
    delete_mail_after_days: int = 183
    # The webmail's (SOGo's) contacts and calendars go after this long without a webmail
    # login (mailboxes.last_webmail_login_at).
    delete_groupware_after_days: int = 183
    # Dovecot's IMAP listener that only the webmail uses (dovecot_webmail_imap_address):
    # a login there is a webmail login, allowed by the mailbox's webmail switch.
    webmail_imap_address: str = "127.0.0.143"
    # The webmail's cache (SOGo's memcached socket): a change of a login's rights drops
    # the login from it, so SOGo asks the database again (mailbasic/webmail_logins.py).
    webmail_cache_socket: str | None = None
    spam_max_age_days: int = 30
    # doveadm as the jobs run it; a non-default Dovecot instance adds "-c", its config.
    doveadm_command: tuple[str, ...] = ("doveadm",)
    # Dovecot's doveadm HTTP API on loopback, for the processes that do not run as root:
    # the portal reads a mailbox's latest messages through it (the filters' dry run).
    doveadm_api_url: str | None = None
    doveadm_api_key: str | None = None
    # `mailbasic jobs backup`: one directory per run under backup_directory, the newest
    # backup_keep complete ones kept.
    backup_directory: str = "/var/backups/mailbasic"
    backup_keep: int = 7
    # POP3 collection: passwords are stored encrypted with collect_key (a Fernet key);
    # collected mail enters through the local Postfix's SMTP port, so the milter (virus,
    # spam, the mailbox's rules) and the policy daemon see it like any incoming mail.
    collect_key: str | None = None
    collect_smtp_host: str = "127.0.0.1"
    collect_smtp_port: int = 25
    collect_timeout: float = 30.0
    collect_ca_file: str | None = None   # trusted besides the system's CAs
    # Collection connects only to public addresses on POP3 ports: a customer names the
    # host, and the job must not become their way into the provider's own network.
    # allowed_networks (CIDR) are reachable despite that rule; allowed_ports replace
    # 110 and 995. Each account gets account_seconds per run; workers collect at once.
    collect_allowed_networks: tuple[str, ...] = ()
    collect_allowed_ports: tuple[int, ...] = (110, 995)
    collect_account_seconds: float = 120.0
    collect_workers: int = 4
    # SMS notifications leave through the provider's HTTP gateway: one POST per SMS of
    # sms_body_template, where $to and $text are escaped for sms_content_type; HTTP basic
    # authentication when a username is set. At most sms_per_hour are sent per mailbox
    # (the rest are suppressed); a temporary failure is retried with backoff up to
    # sms_max_attempts times.
    sms_gateway_url: str | None = None
    sms_username: str | None = None
    sms_password: str | None = None
    sms_body_template: str = '{"to": "$to", "text": "$text"}'
    sms_content_type: SmsContentType = "application/json"
    sms_timeout: float = 10.0
    sms_per_hour: int = 10
    sms_max_attempts: int = 8
    # A leaked password that sends spam: an authenticated login reaching abuse_incidents
    # sending incidents (tripping the rate limit in a transaction, or outgoing mail scored
    # as spam) within abuse_window_minutes loses SMTP AUTH until `mailbasic abuse resume`.
    abuse_incidents: int = 3
    abuse_window_minutes: int = 60


def require_database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise ConfigError("no database URL: set database.url in the config file "
                          "(--config or MAILBASIC_CONFIG) or MAILBASIC_DATABASE_URL")
    return settings.database_url


def service_host_names(settings: Settings) -> tuple[str, ...]:
    return settings.host_names or (f"mail.{settings.service_domain}",)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


# psycopg2 is the driver installed with mailbasic. SQLAlchemy 2.1 reads a bare
# postgresql:// (the form PostgreSQL's documentation shows) as psycopg 3, which is not,
# so every accepted form is pinned to psycopg2 here, once for every user of the URL.
DATABASE_SCHEME = "postgresql+psycopg2"
_DATABASE_SCHEMES = ("postgresql", "postgres", DATABASE_SCHEME)
_DATABASE_FORMS = ("postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or postgres://, "
                   "postgresql+psycopg2://)")


def _database_url(value: Any) -> str:
    url = _string(value)
    scheme, separator, rest = url.partition("://")
    # Only the scheme is ever shown: the rest of the URL holds the password.
    if not separator or scheme.lower() not in _DATABASE_SCHEMES:
        named = separator and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", scheme)
        got = f"{scheme + '://'!r}" if named else "no scheme"
        raise ValueError(f"must be a PostgreSQL URL, {_DATABASE_FORMS}; got {got}")
    url = f"{DATABASE_SCHEME}://{rest}"
    try:
        port = make_url(url).port
    except (ArgumentError, ValueError):
        raise ValueError(f"cannot be parsed as {_DATABASE_FORMS}: the port must be a "
                         "number, and @ : / in the user or password percent-encoded "
                         "(@ as %40)") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"has port {port}; a port is a number from 1 to 65535")
    return url


def _domain(value: Any) -> str:
    name = _string(value).lower()
    if not is_domain_name(name):
        raise ValueError(f"not a domain name: {value!r}")
    return name


def _domains(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty list of domain names, e.g. ["mail.example.net"]')
    return tuple(_domain(name) for name in value)


_RESERVABLE_LOCAL_PART = re.compile(r"^[a-z][a-z0-9.-]{0,29}$")


def _local_parts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError('must be a list of local parts, e.g. ["postmaster", "abuse"]')
    for part in value:
        if not isinstance(part, str) or not _RESERVABLE_LOCAL_PART.match(part):
            raise ValueError(f"must be local parts in lowercase (a letter, then a-z, 0-9, "
                             f"'-' or '.', at most 30; they match any case), got {part!r}")
    return tuple(value)


def _networks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or any(not isinstance(item, str) for item in value):
        raise ValueError('must be a list of networks, e.g. ["192.0.2.0/24", "2001:db8::/48"]')
    try:
        return tuple(str(ip_network(item.strip(), strict=False)) for item in value)
    except ValueError as error:
        raise ValueError(f"must be networks in CIDR notation: {error}") from None


_ROLE_MAILBOX = re.compile(r"^[a-z][a-z0-9.-]{0,63}@[a-z0-9.-]+$")


def _role_mailbox(value: Any) -> str:
    # It goes into a generated Postfix query: plain characters only.
    address = _string(value).lower()
    if not _ROLE_MAILBOX.match(address) or not is_domain_name(address.rpartition("@")[2]):
        raise ValueError(f"must be the address of a mailbox, e.g. "
                         f"\"hostmaster-desk@example.net\", got {value!r}")
    return address


def _role_local_parts(value: Any) -> tuple[str, ...]:
    parts = _local_parts(value)
    if not parts:
        raise ValueError('must name at least one local part, e.g. ["postmaster", "abuse"]')
    return parts


def _absolute_path(value: Any) -> str:
    path = _string(value)
    # The path goes into generated SQL and Dovecot configuration: plain characters only.
    if not _PATH_PATTERN.match(path):
        raise ValueError(f"must be an absolute path of letters, digits and ._-/, got {value!r}")
    return path.rstrip("/") or "/"


def _whole_number(low: int, high: int, what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be {what} from {low} to {high}")
        return value
    return parse


_bcrypt_cost = _whole_number(4, 31, "an integer")
_port = _whole_number(1, 65535, "a port number")
_days = _whole_number(1, 36500, "a number of days")
_workers = _whole_number(1, 64, "a number of processes")
_per_hour = _whole_number(1, 10**7, "a whole number")


def _ports(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of port numbers, e.g. [110, 995]")
    return tuple(_port(port) for port in value)


def _account_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise ValueError("must be a number of seconds above 0 and at most 3600")
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _seconds(value: Any) -> float:
    # Postfix gives a milter 300 s for the whole message: stay far below.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 120:
        raise ValueError("must be a number of seconds above 0 and at most 120")
    return float(value)


def _deadline(value: Any) -> float:
    # Well below Postfix's milter and policy timeouts, and long enough for a busy server.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 60:
        raise ValueError("must be a number of seconds from 1 to 60")
    return float(value)


def _listen_socket(value: Any) -> str:
    """Where a daemon of ours listens, in libmilter's notation (also for the policy)."""
    socket = _string(value)
    if not re.match(r"^(inet:\d{1,5}@[A-Za-z0-9.:-]+|inet6:\d{1,5}@[0-9a-fA-F:.]+|unix:/\S+)$",
                    socket):
        raise ValueError(f"must be inet:PORT@HOST or unix:/PATH, got {value!r}")
    return socket


def _unix_socket(value: Any) -> str:
    socket = _string(value)
    if not re.match(r"^unix:/[A-Za-z0-9._/-]+$", socket):
        raise ValueError(f"must be unix:/PATH (letters, digits and ._-/), got {value!r}")
    return socket


def _unscannable_action(value: Any) -> UnscannableAction:
    if value not in get_args(UnscannableAction):
        raise ValueError("must be \"tempfail\" or \"reject\"")
    return cast(UnscannableAction, value)


def _spam_engine(value: Any) -> SpamEngine:
    if value not in get_args(SpamEngine):
        raise ValueError('must be "spamassassin" or "rspamd"')
    return cast(SpamEngine, value)


def _spamd_user(value: Any) -> str:
    user = _string(value)
    if not re.match(r"^[A-Za-z0-9@._+-]{1,128}$", user):
        raise ValueError(f"must be letters, digits and @._+- only, got {value!r}")
    return user


def _command(value: Any) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value
            or any(not isinstance(part, str) or not part for part in value)):
        raise ValueError('must be a command as a list of strings, e.g. ["doveadm"]')
    return tuple(value)


def _fernet_key(value: Any) -> str:
    key = _string(value)
    try:
        valid = len(base64.urlsafe_b64decode(key.encode())) == 32
    except ValueError:
        valid = False
    if not valid:
        raise ValueError("must be 32 bytes in url-safe base64, e.g. from "
                         "`python3 -c 'import base64, os; "
                         "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`")
    return key


def _secrets(value: Any) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value
            or any(not isinstance(secret, str) or len(secret) < 16 for secret in value)):
        raise ValueError("must be a non-empty list of secrets of at least 16 characters")
    return tuple(value)


def _http_url(value: Any) -> str:
    url = _string(value)
    if not re.match(r"^https?://[^\s/?#]+(/\S*)?$", url):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return url


SMS_CONTENT_TYPES: tuple[SmsContentType, ...] = get_args(SmsContentType)


def _sms_content_type(value: Any) -> SmsContentType:
    if value not in SMS_CONTENT_TYPES:
        raise ValueError(f"must be one of {', '.join(SMS_CONTENT_TYPES)}")
    return cast(SmsContentType, value)


def _sms_template(value: Any) -> str:
    template = _string(value)
    if "$text" not in template or "$to" not in template:
        raise ValueError("must contain $to (the phone number) and $text (the message)")
    return template


POLICY_CHECKS = ("size", "srs_sender", "sending_login", "sender_login", "rate_limit",
                 "recipient", "inactive", "quota", "quota_alone")


def _check_order(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(name not in POLICY_CHECKS
                                                        for name in value):
        raise ValueError(f"must be a list of checks from {', '.join(POLICY_CHECKS)}")
    if len(set(value)) != len(value):
        raise ValueError("names a check twice")
    return tuple(value)


def _cache_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
        raise ValueError("must be a number of seconds from 0 to 600")
    return float(value)


def _reply_text(value: Any) -> str:
    text = _string(value)
    if len(text) > 200 or any(not character.isprintable() for character in text):
        raise ValueError("must be one line of at most 200 printable characters")
    return text


def _secret_key(value: Any) -> str:
    key = _string(value)
    if len(key) < 32:
        raise ValueError("must be at least 32 characters (e.g. `openssl rand -base64 32`)")
    return key


def _https_url(value: Any) -> str:
    url = _string(value).rstrip("/")
    if not re.match(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?$", url):
        raise ValueError("must be an https:// URL")
    return url


def _log_start(value: Any) -> LogStart:
    if value not in get_args(LogStart):
        raise ValueError('must be "beginning" (read the whole file on the first run) or '
                         '"end" (only what Postfix writes from then on)')
    return cast(LogStart, value)


def _poll_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 60:
        raise ValueError("must be a number of seconds from 0.01 to 60")
    return float(value)


def _quota_refusal(value: Any) -> QuotaRefusal:
    if value not in get_args(QuotaRefusal):
        raise ValueError('must be "permanent" (552 5.2.2) or "temporary" (452 4.2.2)')
    return cast(QuotaRefusal, value)


def _inet_socket(value: Any) -> str:
    """inet:PORT@HOST: Dovecot's HTTP client reaches the auth policy over TCP only."""
    socket = _listen_socket(value)
    if not socket.startswith("inet:"):
        raise ValueError(f"must be inet:PORT@HOST (Dovecot reaches it over HTTP), got {value!r}")
    return socket


# Dovecot holds the login this long; its login processes stop waiting for the
# authentication after a minute anyway.
_max_delay = _whole_number(1, 60, "a number of seconds")
_block_failures = _whole_number(1, 10_000, "a number of failures")


def _nameservers(value: Any) -> tuple[str, ...]:
    """A list of "IP:PORT" ("[IPv6]:PORT"; the port may be left out: 53)."""
    if not isinstance(value, list):
        raise ValueError('must be a list of "IP:PORT"')
    servers = []
    for item in value:
        text = _string(item)
        host, _, port = text.rpartition(":") if text.count(":") == 1 or "]:" in text \
            else (text, "", "53")
        try:
            number = int(port)
            address = ip_address(host.strip("[]"))
        except ValueError:
            raise ValueError(f'must be a list of "IP:PORT", got {text!r}') from None
        if not 0 < number < 65536:
            raise ValueError(f"has a port out of range: {text!r}")
        servers.append(f"[{address}]:{number}" if address.version == 6 else
                       f"{address}:{number}")
    return tuple(servers)


def _ip_address(value: Any) -> str:
    try:
        return str(ip_address(_string(value)))
    except ValueError:
        raise ValueError("must be an IP address") from None


# (section, key) in the TOML file -> (Settings field, parser)
_KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("database", "url"): ("database_url", _database_url),
    ("database", "deadline"): ("database_deadline", _deadline),
    ("database", "pool_size"): ("database_pool_size",
                                _whole_number(1, 500, "a number of connections")),
    ("milter", "spool_directory"): ("spool_directory", _absolute_path),
    ("lookups", "socket"): ("lookup_socket", _unix_socket),
    ("service", "domain"): ("service_domain", _domain),
    ("service", "host_names"): ("host_names", _domains),
    ("service", "reserved_local_parts"): ("reserved_local_parts", _local_parts),
    ("service", "mail_root"): ("mail_root", _absolute_path),
    ("service", "message_size_limit"): ("message_size_limit", parse_size),
    ("mailbox", "default_quota"): ("default_quota_bytes", parse_size),
    ("mailbox", "address_hold_days"): ("address_hold_days",
                                       _whole_number(0, 3650, "a number of days")),
    ("passwords", "bcrypt_cost"): ("bcrypt_cost", _bcrypt_cost),
    ("milter", "socket"): ("milter_socket", _listen_socket),
    ("milter", "spool_threshold"): ("spool_threshold", parse_size),
    ("milter", "workers"): ("milter_workers",
                            _whole_number(0, 256, "a number of processes (0: one per CPU)")),
    ("spamd", "host"): ("spamd_host", _string),
    ("spamd", "port"): ("spamd_port", _port),
    ("spamd", "timeout"): ("spamd_timeout", _seconds),
    ("spamd", "fail_open"): ("spamd_fail_open", _boolean),
    ("spamd", "default_user"): ("spamd_default_user", _spamd_user),
    ("spamd", "scan_cap"): ("spam_scan_cap", parse_size),
    ("spamd", "scan_authenticated"): ("spam_scan_authenticated", _boolean),
    ("spam", "engine"): ("spam_engine", _spam_engine),
    ("rspamd", "host"): ("rspamd_host", _string),
    ("rspamd", "port"): ("rspamd_port", _port),
    ("rspamd", "timeout"): ("rspamd_timeout", _seconds),
    ("dns", "nameservers"): ("dns_nameservers", _nameservers),
    ("clamd", "host"): ("clamd_host", _string),
    ("clamd", "port"): ("clamd_port", _port),
    ("clamd", "timeout"): ("clamd_timeout", _seconds),
    ("clamd", "unscannable"): ("unscannable_action", _unscannable_action),
    ("clamd", "too_deep_text"): ("too_deep_text", _reply_text),
    ("clamd", "too_many_parts_text"): ("too_many_parts_text", _reply_text),
    ("clamd", "encrypted_text"): ("encrypted_text", _reply_text),
    ("clamd", "over_limits_text"): ("over_limits_text", _reply_text),
    ("log", "retention_days"): ("log_retention_days", _days),
    ("log", "connections"): ("log_connections", _boolean),
    ("portal", "socket"): ("portal_socket", _unix_socket),
    ("portal", "secret_key"): ("portal_secret_key", _secret_key),
    ("portal", "base_url"): ("portal_base_url", _https_url),
    ("portal", "invite_hours"): ("portal_invite_hours",
                                 _whole_number(1, 24 * 30, "a number of hours")),
    ("portal", "session_minutes"): ("portal_session_minutes",
                                    _whole_number(5, 24 * 60, "a number of minutes")),
    ("portal", "threads"): ("portal_threads", _whole_number(1, 256, "a number of threads")),
    ("client_ports", "imaps"): ("client_imaps_port", _port),
    ("client_ports", "imap"): ("client_imap_port", _port),
    ("client_ports", "pop3s"): ("client_pop3s_port", _port),
    ("client_ports", "pop3"): ("client_pop3_port", _port),
    ("client_ports", "submissions"): ("client_submissions_port", _port),
    ("client_ports", "submission"): ("client_submission_port", _port),
    ("delivery_log", "file"): ("delivery_log_file", _absolute_path),
    ("delivery_log", "start"): ("delivery_log_start", _log_start),
    ("delivery_log", "batch_lines"): ("delivery_log_batch_lines",
                                      _whole_number(1, 100_000, "a number of lines")),
    ("delivery_log", "poll_seconds"): ("delivery_log_poll_seconds", _poll_seconds),
    ("policy", "socket"): ("policy_socket", _listen_socket),
    ("policy", "checks"): ("policy_checks", _check_order),
    ("policy", "cache_seconds"): ("policy_cache_seconds", _cache_seconds),
    ("policy", "inactive_text"): ("inactive_text", _reply_text),
    ("policy", "quota_refusal"): ("quota_refusal", _quota_refusal),
    ("policy", "messages_per_hour"): ("rate_messages_per_hour", _per_hour),
    ("policy", "recipients_per_hour"): ("rate_recipients_per_hour", _per_hour),
    ("mta", "sendmail"): ("sendmail_path", _absolute_path),
    ("mta", "config_directory"): ("postfix_config_directory", _absolute_path),
    ("forwarding", "srs_secrets"): ("srs_secrets", _secrets),
    ("forwarding", "srs_domain"): ("srs_domain", _domain),
    ("forwarding", "srs_max_age_days"): ("srs_max_age_days", _days),
    ("forwarding", "socket"): ("srs_socket", _unix_socket),
    ("forwarding", "srs_clients"): ("srs_clients", _networks),
    ("service", "role_mailbox"): ("role_mailbox", _role_mailbox),
    ("service", "role_addresses"): ("role_local_parts", _role_local_parts),
    ("rules", "max_redirects"): ("rules_max_redirects", _whole_number(1, 32, "a number")),
    ("policy", "workers"): ("policy_workers", _workers),
    ("auth_policy", "socket"): ("auth_policy_socket", _inet_socket),
    ("auth_policy", "free_failures"): ("auth_free_failures",
                                       _whole_number(0, 100, "a number of failures")),
    ("auth_policy", "max_delay_seconds"): ("auth_max_delay_seconds", _max_delay),
    ("auth_policy", "client_block_failures"): ("auth_client_block_failures",
                                               _block_failures),
    ("auth_policy", "account_block_failures"): ("auth_account_block_failures",
                                                _block_failures),
    ("auth_policy", "block_minutes"): ("auth_block_minutes",
                                       _whole_number(1, 7 * 24 * 60, "a number of minutes")),
    ("auth_policy", "forget_hours"): ("auth_forget_hours",
                                      _whole_number(1, 30 * 24, "a number of hours")),
    ("auth_policy", "known_client_days"): ("auth_known_client_days", _days),
    ("auth_policy", "trusted_networks"): ("auth_trusted_networks", _networks),
    ("managesieve", "socket"): ("managesieve_socket", _inet_socket),
    ("managesieve", "auth_socket"): ("managesieve_auth_socket", _absolute_path),
    ("managesieve", "certificate"): ("managesieve_certificate", _absolute_path),
    ("managesieve", "key"): ("managesieve_key", _absolute_path),
    ("managesieve", "default_script"): ("managesieve_default_script", _string),
    ("inactivity", "deactivate_after_days"): ("deactivate_after_days", _days),
    ("inactivity", "delete_mail_after_days"): ("delete_mail_after_days", _days),
    ("inactivity", "delete_groupware_after_days"): ("delete_groupware_after_days", _days),
    ("jobs", "spam_max_age_days"): ("spam_max_age_days", _days),
    ("groupware", "imap_address"): ("webmail_imap_address", _ip_address),
    ("groupware", "cache_socket"): ("webmail_cache_socket", _absolute_path),
    ("dovecot", "doveadm"): ("doveadm_command", _command),
    ("dovecot", "api_url"): ("doveadm_api_url", _http_url),
    ("dovecot", "api_key"): ("doveadm_api_key", _string),
    ("backup", "directory"): ("backup_directory", _absolute_path),
    ("backup", "keep"): ("backup_keep", _whole_number(1, 365, "a number of backups")),
    ("collect", "key"): ("collect_key", _fernet_key),
    ("collect", "smtp_host"): ("collect_smtp_host", _string),
    ("collect", "smtp_port"): ("collect_smtp_port", _port),
    ("collect", "timeout"): ("collect_timeout", _seconds),
    ("collect", "ca_file"): ("collect_ca_file", _absolute_path),
    ("collect", "allowed_networks"): ("collect_allowed_networks", _networks),
    ("collect", "allowed_ports"): ("collect_allowed_ports", _ports),
    ("collect", "account_seconds"): ("collect_account_seconds", _account_seconds),
    ("collect", "workers"): ("collect_workers", _workers),
    ("sms", "gateway_url"): ("sms_gateway_url", _http_url),
    ("sms", "username"): ("sms_username", _string),
    ("sms", "password"): ("sms_password", _string),
    ("sms", "body_template"): ("sms_body_template", _sms_template),
    ("sms", "content_type"): ("sms_content_type", _sms_content_type),
    ("sms", "timeout"): ("sms_timeout", _seconds),
    ("sms", "per_hour"): ("sms_per_hour", _whole_number(1, 1000, "a number of SMS")),
    ("sms", "max_attempts"): ("sms_max_attempts", _whole_number(1, 50, "a number")),
    ("abuse", "incidents"): ("abuse_incidents",
                             _whole_number(1, 1000, "a number of incidents")),
    ("abuse", "window_minutes"): ("abuse_window_minutes",
                                  _whole_number(1, 7 * 24 * 60, "a number of minutes")),
}

_ENVIRONMENT: dict[str, tuple[str, str]] = {
    "MAILBASIC_DATABASE_URL": ("database", "url"),
}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _flatten(document: Mapping[str, Any], origin: str) -> dict[tuple[str, str], Any]:
    values: dict[tuple[str, str], Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        for key, value in table.items():
            if (section, key) not in _KEYS:
                raise ConfigError(f"{origin}: unknown setting {section}.{key}")
            values[(section, key)] = value
    return values


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the file (or $MAILBASIC_CONFIG) and the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("MAILBASIC_CONFIG")
    origin = str(path) if path else "configuration"
    values = _flatten(_read_file(Path(path)), origin) if path else {}
    sources = dict.fromkeys(values, origin)
    for variable, key in _ENVIRONMENT.items():
        if environ.get(variable):
            values[key], sources[key] = environ[variable], variable
    fields: dict[str, Any] = {}
    for key, value in values.items():
        field, parse = _KEYS[key]
        try:
            fields[field] = parse(value)
        except ValueError as error:
            raise ConfigError(f"{sources[key]}: {key[0]}.{key[1]} {error}") from None
    settings = Settings(**fields)
    if settings.delete_mail_after_days <= settings.deactivate_after_days:
        raise ConfigError(f"{origin}: inactivity.delete_mail_after_days must be more than "
                          "inactivity.deactivate_after_days (mail is deleted only from "
                          "mailboxes that stopped receiving before)")
    if (settings.sms_username is None) != (settings.sms_password is None):
        raise ConfigError(f"{origin}: sms.username and sms.password go together")
    _check_auth_thresholds(settings, origin)
    return settings


def _check_auth_thresholds(settings: Settings, origin: str) -> None:
    # A block at or below the free failures would refuse a typo without any warning delay.
    for scope in ("client", "account"):
        if getattr(settings, f"auth_{scope}_block_failures") <= settings.auth_free_failures:
            raise ConfigError(f"{origin}: auth_policy.{scope}_block_failures must be more "
                              "than auth_policy.free_failures (the failures that cost "
                              "nothing come before any block)")


def render_settings(settings: Settings) -> str:
    """The TOML text that loads back into the same Settings (used by the local stack)."""
    by_field = {field: key for key, (field, _) in _KEYS.items()}
    sections: dict[str, list[str]] = {}
    for field in dataclasses.fields(settings):
        section, key = by_field[field.name]
        value = getattr(settings, field.name)
        # Unset: the file leaves the key out too. An empty list whose default is not
        # empty (no reserved local parts) is a value of its own.
        if value is None or value == () == field.default:
            continue
        # A JSON string, number, boolean or list of strings is valid TOML.
        text = json.dumps(list(value) if isinstance(value, tuple) else value)
        sections.setdefault(section, []).append(f"{key} = {text}")
    return "\n".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())
