"""rspamd's own milter, for the milter benchmark (issue 21): variant "P".

A separate rspamd instance, set up as docker-mailserver sets it up: the rspamd_proxy
worker in milter mode (`milter = yes`) scanning messages itself (`self_scan = yes`, its
target/rspamd/local.d/worker-proxy.inc), the `antivirus` module asking clamd with the
whole message and rejecting a virus (its local.d/antivirus.conf; clamav-milter's
OnInfected Reject), and `milter_headers` adding mailcow's headers (its
local.d/milter_headers.conf) plus X-Spam-Status. Postfix talks to it as
`smtpd_milters = inet:127.0.0.1:PORT`. With `self_scan=False` the proxy hands every
message to the instance's normal worker over HTTP instead, as mailcow does
(override.d/worker-proxy.inc: `upstream "local" { hosts = "rspamd:11333" }`).
Both listen on TCP; `socket_path` puts the milter on a unix socket as the benchmark's
other milters are: over loopback TCP Postfix's milter conversation waits on Nagle and
delayed ACKs (bench/rspamd_proxy_check.py: p50 ~50 ms a message over TCP, ~4 ms on a
unix socket, one client).

Everything else is the product's rspamd (mailbasic/devstack/rspamd.py): Debian's
configuration, the rspamd role's local.d/ and override.d/ (the same modules off, the same
resolver, Debian's actions: reject at 15, add_header at 6), so that the comparison with
variant Cr differs only in who speaks milter and who asks clamd. Its own directory, ports,
pid file and log under ROOT; it runs as _rspamd as the stack's does.

    milter, stop = start_rspamd_proxy(root, stack, stack.ports.clamd, stack.dns.address)
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Layout
from mailbasic.devstack.process import StackError, free_port, tail, wait_until
from mailbasic.devstack.rspamd import USER, Rspamd

# clamav-milter's MaxFileSize in the benchmark's reference variant (R): larger messages
# go unscanned by both.
ANTIVIRUS_MAX_SIZE = 40 * 1024 * 1024


class ProxyRspamd(Rspamd):
    """The stack's rspamd plus a milter proxy worker, the antivirus module and
    milter_headers. WORKERS: proxy workers with self_scan (each scans), else normal
    workers behind one proxy worker."""

    def __init__(self, layout: Layout, port: int, nameserver: str, milter_port: int,
                 clamd_port: int, workers: int = 1, self_scan: bool = True,
                 socket_path: Path | None = None) -> None:
        super().__init__(layout, port, nameserver)
        self.milter_port, self.clamd_port = milter_port, clamd_port
        self.workers, self.self_scan = workers, self_scan
        self.socket_path = socket_path

    @property
    def milter(self) -> str:
        """Postfix's smtpd_milters value."""
        if self.socket_path:
            return f"unix:{self.socket_path}"
        return f"inet:{HOST}:{self.milter_port}"

    def bind_socket(self) -> str:
        if self.socket_path:
            # rspamd's main process (root) binds it; Postfix's smtpd connects as postfix.
            return f"{self.socket_path} mode=0660 owner={USER} group=postfix"
        return f"{HOST}:{self.milter_port}"

    def role_values(self) -> dict[str, object]:
        # With self_scan the normal worker scans nothing: one is kept (docker-mailserver
        # keeps it too, for rspamc), and it answers /ping.
        return {**super().role_values(),
                "rspamd_workers": 1 if self.self_scan else self.workers}

    def write_config(self) -> None:
        super().write_config()
        # In place of the role's override.d/worker-proxy.inc (`enabled = false`): Debian's
        # worker-proxy.inc is read first, these keys replace its own.
        if self.self_scan:
            upstream = 'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
            count = self.workers
        else:
            upstream = (f'upstream "local" {{\n  default = yes;\n'
                        f'  hosts = "{HOST}:{self.port}";\n}}\n')
            count = 1
        self._write("override.d/worker-proxy.inc", f"""\
bind_socket = "{self.bind_socket()}";
milter = yes;
timeout = 120s;
{upstream}count = {count};
max_retries = 5;
discard_on_reject = false;
quarantine_on_reject = false;
spam_header = "X-Spam";
reject_message = "Spam message rejected";
""")
        self._write("local.d/antivirus.conf", f"""\
clamav {{
  type = "clamav";
  servers = "{HOST}:{self.clamd_port}";
  action = "reject";
  message = '${{SCANNER}}: virus found: "${{VIRUS}}"';
  scan_mime_parts = false;
  symbol = "CLAM_VIRUS";
  log_clean = true;
  max_size = {ANTIVIRUS_MAX_SIZE};
}}
""")
        # fuzzy-hashes left out of mailcow's list: the role turns fuzzy_check off.
        self._write("local.d/milter_headers.conf", """\
use = ["spam-header", "x-spamd-result", "x-rspamd-queue-id", "x-spam-status",
       "authentication-results"];
skip_local = false;
skip_authenticated = true;
routines {
  spam-header {
    header = "X-Spam-Flag";
    value = "YES";
    remove = 1;
  }
  authentication-results {
    header = "Authentication-Results";
    add_smtp_user = false;
    remove = 1;
  }
}
""")

    def _write(self, name: str, text: str) -> None:
        path = self.confdir / name
        path.write_text(f"# bench/rspamd_proxy.py: rspamd's own milter (variant P)\n{text}")
        path.chmod(0o644)

    def wait_ready(self) -> None:
        super().wait_ready()
        address = self.socket_path or self.milter_port
        wait_until(lambda: negotiates(address), what=f"rspamd proxy milter {self.milter}",
                   timeout=60, log=self.logfile)


# rspamd's hs_helper compiles the regular expressions after the start, then each scanning
# worker loads the database (the proxy too, with self_scan); until then it scans slower.
def hyperscan_loaded(worker: str) -> re.Pattern[str]:
    return re.compile(rf"\({worker}\).*hyperscan database of \d+ regexps has been loaded")


def wait_hyperscan(log: Path, worker: str, timeout: float) -> bool:
    pattern = hyperscan_loaded(worker)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and pattern.search(log.read_text(errors="replace")):
            return True
        time.sleep(0.5)
    return False


SMFIC_OPTNEG, SMFIC_QUIT = b"O", b"Q"
SMFI_VERSION = 6


def negotiates(address: int | Path) -> bool:
    """True when the milter at ADDRESS (a loopback port or a unix socket) answers a milter
    option negotiation (SMFIC_OPTNEG), as Postfix opens every connection."""
    if isinstance(address, Path):
        connection = socket.socket(socket.AF_UNIX)
        connection.settimeout(5)
        try:
            connection.connect(str(address))
        except OSError:
            connection.close()
            raise
    else:
        connection = socket.create_connection((HOST, address), timeout=5)
    with connection:
        body = SMFIC_OPTNEG + struct.pack("!III", SMFI_VERSION, 0x1FF, 0x1FFFFF)
        connection.sendall(struct.pack("!I", len(body)) + body)
        answer = b""
        while len(answer) < 5:
            chunk = connection.recv(64)
            if not chunk:
                break
            answer += chunk
        if answer:
            connection.sendall(struct.pack("!I", 1) + SMFIC_QUIT)  # no EOF error logged
    return len(answer) >= 5 and answer[4:5] == SMFIC_OPTNEG


def start_rspamd_proxy(root: Path, stack: Stack, clamd_port: int | None = None,
                       dns_address: str | None = None, workers: int = 1,
                       self_scan: bool = True, socket_path: Path | None = None,
                       hyperscan_timeout: float = 180) -> tuple[str, Callable[[], None]]:
    """Start rspamd's milter proxy under ROOT/rspamd-proxy (config, db, run, and its log
    at ROOT/rspamd-proxy/logs/rspamd.log) asking the clamd on CLAMD_PORT and the resolver
    DNS_ADDRESS (default: the stack's clamd and dnsmasq, which must be running), listening
    on a free loopback port, or on the unix socket SOCKET_PATH if given (its directory
    must let the postfix group in). Returns Postfix's milter spec ("inet:127.0.0.1:PORT"
    or "unix:SOCKET_PATH") and a function that stops it. WORKERS: rspamd_proxy workers
    with SELF_SCAN (docker-mailserver's setup), else normal workers behind one proxy
    worker (mailcow's). Waits until the milter answers and its scanning workers have
    loaded their hyperscan database (a warning on stdout if not within
    HYPERSCAN_TIMEOUT seconds)."""
    layout = Layout(root.resolve() / "rspamd-proxy")
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.root.chmod(0o755)
    proxy = ProxyRspamd(layout, free_port(), dns_address or stack.dns.address, free_port(),
                        clamd_port or stack.ports.clamd, workers, self_scan, socket_path)
    try:
        proxy.launch()
        proxy.wait_ready()
        worker = "rspamd_proxy" if self_scan else "normal"
        if not wait_hyperscan(proxy.logfile, worker, hyperscan_timeout):
            print(f"warning: rspamd proxy's {worker} worker has not logged its hyperscan "
                  "database; P may be measured while it compiles", flush=True)
    except BaseException:
        try:
            proxy.stop()
        except StackError as error:
            print(f"rspamd proxy did not stop: {error}\n{tail(proxy.logfile)}", flush=True)
        raise
    return proxy.milter, proxy.stop


def log_file(root: Path) -> Path:
    """The proxy instance's rspamd log, under the ROOT given to start_rspamd_proxy."""
    return root.resolve() / "rspamd-proxy" / "logs" / "rspamd.log"


def antivirus_failures(root: Path) -> int:
    """Messages whose clamd scan failed (timeout, connection): rspamd lets them through
    with CLAM_VIRUS_FAIL where clamav-milter's OnFail Defer would defer them."""
    log = log_file(root)
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r"rspamd_task_write_log: .*CLAM_VIRUS_FAIL", text))
