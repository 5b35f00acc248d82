"""Milter benchmark: throughput and end-of-data latency side by side in one run, latency
at a paced load, where the milter's CPU goes, and the milter's peak memory with 20
concurrent 19 MB messages.

One Postfix with one smtpd port per variant, which hands every message it accepts to its
discard transport (--relay: relays it to smtp-sink instead):
  A   no milter
  N   a pymilter milter that does nothing (bench/noop_milter.py): the protocol's floor
  B   mailbasic milter with instant stand-in scanners (bench/standins.py)
  R_B Debian's clamav-milter + spamass-milter on the same stand-ins: the peer doing the
      same job with the engines' cost taken out
  C   mailbasic milter with the real spamd + clamd (spam.engine = "spamassassin")
  Cr  mailbasic milter with the real rspamd + the same clamd (spam.engine = "rspamd");
      rspamd as the local stack runs it, asking the stack's dnsmasq (answers at once)
  P   rspamd's own milter (rspamd_proxy in milter mode, self_scan, its antivirus module on
      the same clamd: bench/rspamd_proxy.py), the setup of docker-mailserver and mailcow
  R   Debian's clamav-milter + spamass-milter with the same spamd + clamd
The mailbasic milters run as deployed: [milter] workers processes (the stack's 2).
Targets (issue 21): B/N >= 0.7, B >= R_B, Cr/R >= 10 (2 KB and mixed sizes), C and Cr
p50 <= 0.5 x R's at a paced load of half R's throughput, Cr >= P; peak RSS <= 150 MB. Every
message comes from outside (XCLIENT: mail.outside.example [192.0.2.25], whose SPF passes
in the stack's DNS zones), so neither engine skips the checks it keeps for local clients.

--mixed adds a second pass of C, Cr, P and R with issue 21's mixed sizes (70% under
10 KB, 25% 10-500 KB, 5% 0.5-10 MB), the same sizes for every variant and contents of
each pass's own; a variant through them within --mixed-seconds sends them again (new
contents) in the same closed loop. --quick sends fewer messages and skips the memory
test. Every pass's clients take the next message from one queue and send it quoted
beforehand; each pass says how many of the 2 cores were busy.
Delivery is no part of any filter and runs on the same 2 cores as the variants: relaying
each message to smtp-sink cost Postfix's smtp client and smtp-sink 1.8 ms of CPU a
mixed-size message (a third of Postfix's share, 12% of Cr's whole cost), the same for
every variant, which pulled every ratio towards 1. Discarding measures the filters; the
relay (--relay) stays to compare with runs made before.
With py-spy installed (the bench extra), B (and Cr on the mixed sizes) run once more
under the sampler and the output says where the milter's own CPU goes
(bench/milter_profile.py). Last, both engines score a small ham/spam corpus
(bench/engine_corpus.py) through the milter's own clients (mailbasic/scanners), for
detection beside throughput. Run with `make bench`; raw figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import grp
import io
import itertools
import math
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import engine_corpus
import milter_profile
import paced
import results_file
import rspamd_proxy

from mailbasic.config import MIB, Settings, render_settings
from mailbasic.devstack import Stack
from mailbasic.devstack.dns import OUTSIDE_DOMAIN, OUTSIDE_IP, OUTSIDE_MAIL_HOST, Record
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.devstack.process import accepts_connections, free_port, greeting, wait_until
from mailbasic.devstack.rspamd import Rspamd
from mailbasic.scanners.engines import spam_engine
from mailbasic.scanners.spamd import SpamdError

SENDER, RECIPIENT = "sender@bench.example", "rcpt@bench.example"
OUTSIDE_SENDER_RECORDS = (
    Record("txt-record", f'_dmarc.{OUTSIDE_DOMAIN},"v=DMARC1; p=none"'),
    Record("txt-record", f'{OUTSIDE_MAIL_HOST},"v=spf1 a -all"'))
# Who the load says it is (Postfix's XCLIENT), and its envelope sender: the stack's
# outside domain, whose SPF record names that host.
OUTSIDE_CLIENT = f"ADDR={OUTSIDE_IP} NAME={OUTSIDE_MAIL_HOST} HELO={OUTSIDE_MAIL_HOST}"


def ham(size: int) -> bytes:
    words = ("Dear colleague, the quarterly report is attached as discussed in the meeting "
             "on Tuesday. Please review the numbers for the northern region before Friday. ")
    body = (words * (size // len(words) + 1))[:size]
    lines = [body[i:i + 76] for i in range(0, len(body), 76)]
    return ("From: Sender <sender@bench.example>\r\nTo: rcpt@bench.example\r\n"
            "Subject: quarterly report\r\nMessage-ID: <bench@bench.example>\r\n"
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n"
            + "\r\n".join(lines) + "\r\n").encode()


def big_attachment(size: int) -> bytes:
    import base64
    encoded = base64.encodebytes(bytes(range(256)) * (size * 3 // 4 // 256))
    return (b"From: sender@bench.example\r\nTo: rcpt@bench.example\r\nSubject: big\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nbig file\r\n"
            b'--b\r\nContent-Type: application/octet-stream; name="big.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + encoded.replace(b"\n", b"\r\n") + b"--b--\r\n")


class Processes:
    """Everything the benchmark started, stopped in reverse order at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen:
        with log.open("ab") as output:
            # umask 007: milter sockets in the setgid directory are Postfix's to use
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, umask=0o007)
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.started):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def socket_directory(root: Path) -> Path:
    """Every milter listens on a unix socket here (as Debian sets them up): over TCP on
    loopback, Nagle and delayed ACKs add ~40 ms per message to any milter."""
    directory = root / "sockets"
    directory.mkdir(exist_ok=True)
    os.chown(directory, -1, grp.getgrnam("postfix").gr_gid)
    directory.chmod(0o2770)
    return directory


def unix_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        probe.connect(str(path))
    return True


def start_milter(processes: Processes, root: Path, name: str, settings: Settings) -> tuple:
    config = root / f"{name}.toml"
    path = socket_directory(root) / f"{name}.sock"
    config.write_text(render_settings(replace(settings, milter_socket=f"unix:{path}")))
    executable = Path(sys.executable).with_name("mailbasic")
    process = processes.start([str(executable), "--config", str(config), "milter"],
                              root / f"{name}.log")
    wait_until(lambda: unix_accepts(path), what=name, timeout=30, log=root / f"{name}.log")
    return process, f"unix:{path}"


def start_reference(processes: Processes, root: Path, name: str, clamd_port: int,
                    spamd_port: int) -> str:
    """Debian's clamav-milter and spamass-milter (which runs spamc for each message) on
    the clamd and spamd at these ports; the milter list for Postfix."""
    sockets = socket_directory(root)
    clamav, spamass = sockets / f"{name}-clamav.sock", sockets / f"{name}-spamass.sock"
    config = root / f"{name}-clamav-milter.conf"
    config.write_text(f"MilterSocket {clamav}\nMilterSocketMode 660\nForeground yes\n"
                      f"ClamdSocket tcp:{HOST}:{clamd_port}\nOnClean Accept\n"
                      "OnInfected Reject\nOnFail Defer\nAddHeader Replace\n"
                      f"LogFile {root / f'{name}-clamav-milter-internal.log'}\n"
                      "MaxFileSize 40M\nReadTimeout 120\n")
    processes.start(["clamav-milter", "-c", str(config)], root / f"{name}-clamav-milter.log")
    processes.start(["spamass-milter", "-p", str(spamass), "-u", "mailbasic",
                     "--", "-d", HOST, "-p", str(spamd_port)],
                    root / f"{name}-spamass-milter.log")
    for path in (clamav, spamass):
        wait_until(partial(unix_accepts, path), what=f"reference milter {path.name}",
                   timeout=30)
    return f"unix:{clamav},unix:{spamass}"


def start_postfix(root: Path, variants: dict[str, tuple[int, str]],
                  sink_port: int | None) -> Path:
    """One smtpd per variant; what they accept is discarded, or relayed to smtp-sink on
    SINK_PORT when one is given."""
    transport = f"smtp:[{HOST}]:{sink_port}" if sink_port else "discard:benchmark"
    return start_bench_postfix(root, {port: milters for port, milters in variants.values()},
                               f"""relay_transport = {transport}
message_size_limit = {20 * MIB}
milter_content_timeout = 300s
smtp_destination_concurrency_limit = 50
smtpd_authorized_xclient_hosts = 127.0.0.0/8
""")


def start_bench_postfix(root: Path, services: dict[int, str], delivery: str) -> Path:
    """A Postfix instance of its own under ROOT (log in root/postfix.log), one smtpd per
    port with the milters given (if any); DELIVERY: the main.cf lines saying where mail
    for bench.example goes, and what else differs."""
    etc, queue = root / "postfix-etc", root / "postfix-queue"
    for directory in (etc, queue, root / "postfix-data"):
        directory.mkdir(parents=True, exist_ok=True)
    shutil.chown(root / "postfix-data", "postfix")
    (etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {root / 'postfix-data'}
maillog_file = {root / 'postfix.log'}
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = {HOST}
inet_protocols = ipv4
myhostname = bench.localhost
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = bench.example
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
milter_protocol = 6
milter_default_action = tempfail
default_process_limit = 200
disable_dns_lookups = yes
""" + delivery)
    smtpd = "".join(f"{HOST}:{port} inet n - n - - smtpd -o smtpd_milters={milters}\n"
                    for port, milters in services.items())
    # The role template (the stack renders it too): only its internal services are kept.
    stock = Path(__file__).parent.parent / "ansible/roles/postfix/templates/master.cf.j2"
    internal = [line for line in stock.read_text().splitlines(keepends=True)
                if line.split(" ")[0] in INTERNAL_SERVICES]
    (etc / "master.cf").write_text(smtpd + "".join(internal))
    subprocess.run(["postfix", "-c", str(etc), "start"], check=True, capture_output=True)
    for port in services:
        wait_until(partial(greeting, port, b"220"), what=f"Postfix on {port}", timeout=30)
    return etc


INTERNAL_SERVICES = {"pickup", "cleanup", "qmgr", "tlsmgr", "rewrite", "bounce", "defer",
                     "trace", "verify", "flush", "proxymap", "smtp", "relay", "showq",
                     "error", "retry", "discard", "anvil", "scache", "postlog"}


def connect(port: int, outside: bool = True) -> smtplib.SMTP:
    """A client after EHLO; OUTSIDE: it first says, with XCLIENT, that it is the outside
    domain's mail host."""
    client = smtplib.SMTP(HOST, port, timeout=600)
    client.ehlo("bench.client")
    if outside:
        code, text = client.docmd("XCLIENT", OUTSIDE_CLIENT)
        if code != 220:
            client.close()
            raise smtplib.SMTPResponseException(code, text)
        client.ehlo(OUTSIDE_MAIL_HOST)
    return client


def transaction(client: smtplib.SMTP, stream: bytes, outside: bool = True,
                ) -> tuple[int, float]:
    """One message (STREAM: as data_stream made it): MAIL, RCPT, DATA; the code of the
    answer after DATA and the seconds from DATA to it (the end-of-data latency: the
    milters' time)."""
    client.mail(engine_corpus.OUTSIDE_SENDER if outside else SENDER)
    client.rcpt(RECIPIENT)
    started = time.perf_counter()
    code, _ = client.docmd("DATA")
    if code == 354:
        client.send(stream)
        code, _ = client.getreply()
    return code, time.perf_counter() - started


def data_stream(payload: bytes) -> bytes:
    """PAYLOAD as DATA sends it: dot-stuffed, ending in CRLF.CRLF. Made before a pass
    rather than by smtplib's data() on every send: that quoting cost the load generator
    0.7 ms a message of the mixed sizes, CPU the 2 cores' servers would otherwise have."""
    quoted = re.sub(rb"(?m)^\.", b"..", payload)
    return quoted + (b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n")


def load(port: int, payloads: list[bytes], connections: int, per_connection: int,
         outside: bool = True) -> dict:
    """CONNECTIONS clients at once, CONNECTIONS x PER_CONNECTION messages in all (a closed
    loop): each client takes the next message of the list (round it) when its last one
    is answered. Taking them from one queue, rather than a fixed share each, keeps every
    connection busy to the end when the sizes differ: with fixed shares, the run's last
    seconds were one client's large messages while the others had finished."""
    return send_streams(port, [data_stream(payload) for payload in payloads], connections,
                        per_connection, outside)


def send_streams(port: int, streams: list[bytes], connections: int, per_connection: int,
                 outside: bool) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    taken = itertools.count()
    total = connections * per_connection

    def worker() -> None:
        try:
            with connect(port, outside) as client:
                while (index := next(taken)) < total:
                    code, elapsed = transaction(client, streams[index % len(streams)],
                                                outside)
                    with lock:
                        latencies.append(elapsed)
                        if code != 250:
                            failures.append(str(code))
        except (OSError, smtplib.SMTPException) as error:
            with lock:
                failures.append(repr(error))

    busy_before = busy_cpu_seconds()
    wall = results_file.run_workers([worker] * connections)
    cores_busy = (busy_cpu_seconds() - busy_before) / wall
    latencies.sort()
    # What the clients sent, dot-stuffing and the final dot aside.
    offered = sum(len(streams[index % len(streams)]) - 3 for index in range(total))
    return {"messages": len(latencies), "failures": failures[:5],
            "failed": len(failures), "seconds": round(wall, 3),
            "per_second": round(len(latencies) / wall, 1),
            "mb_per_second": round(offered / MIB / wall, 2),
            "cores_busy": round(cores_busy, 2),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)}


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent on anything but idling (and waiting for
    its disks) since it started: over a pass, how many of the cores its load kept busy."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0]
              .split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


CPU_GROUPS = {
    "postfix": {"master", "smtpd", "cleanup", "qmgr", "smtp", "trivial-rewrite", "anvil",
                "postlogd", "smtp-sink", "proxymap", "tlsmgr", "scache"},
    # The engines apart: what each variant makes them do differs (the product hands
    # clamd each part decoded, rspamd_proxy the whole message).
    "clamd": {"clamd"},
    "rspamd": {"rspamd"},      # the Cr and P instances both; one is idle in each pass
    "spamd": {"spamd", "spamd child"},
    "reference milters": {"clamav-milter", "spamass-milter", "spamc"},
    "dns": {"dnsmasq"},
    "postgres": {"postgres"},
}


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by each process group (milter, scanners, Postfix, ...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # utime, stime, and the same of children it reaped: a spamd child or smtpd that
        # exits during a run moves its time into its parent's.
        used = sum(int(value) for value in fields[11:15]) / ticks
        if "milter-" in command and ".toml" in command:
            group = "mailbasic milter"
        elif "noop_milter.py" in command:
            group = "noop milter"
        elif "standins.py" in command:
            group = "stand-ins"
        elif int(stat.parent.name) == os.getpid():
            group = "load generator"
        else:
            group = next((group for group, names in CPU_GROUPS.items() if name in names),
                         "")
        if group:
            totals[group] = totals.get(group, 0.0) + used
    return totals


def measured(port: int, payloads: list[bytes], connections: int, per_connection: int,
             outside: bool = True) -> dict:
    streams = [data_stream(payload) for payload in payloads]   # before the clocks
    before = cpu_seconds()
    result = send_streams(port, streams, connections, per_connection, outside)
    after = cpu_seconds()
    result["cpu_ms_per_message"] = {
        group: round((after[group] - before.get(group, 0.0)) * 1000 / result["messages"], 2)
        for group in after if after[group] - before.get(group, 0.0) > 0}
    return result


def mixed_pass(port: int, variant: str, count: int, connections: int, outside: bool,
               min_seconds: float) -> dict:
    """COUNT messages of the mixed sizes; a variant that is through them sooner than
    MIN_SECONDS sends the same sizes again, each round with contents of its own (clamd
    keeps the hashes of what it found clean), as many rounds as make MIN_SECONDS, in one
    closed loop: a pass of a second or two would be mostly its start and its last large
    messages. The first round tells how many, and counts when it is long enough."""
    def stream(round_: int) -> list[bytes]:
        return engine_corpus.mixed_stream(count, contents=f"{variant}-{round_}")

    per_connection = count // connections
    first = measured(port, stream(0), connections, per_connection, outside)
    if first["seconds"] >= min_seconds:
        return {**first, "rounds": 1}
    rounds = math.ceil(min_seconds / first["seconds"])
    payloads = [message for round_ in range(1, rounds + 1) for message in stream(round_)]
    result = measured(port, payloads, connections, rounds * per_connection, outside)
    return {**result, "rounds": rounds}


def peak_rss_mb(pid: int) -> dict[str, float]:
    """The milter's peak resident memory: each of its processes' (the supervisor and its
    workers) and their sum, an upper bound of what they held at once."""
    peaks = {}
    for process in [pid, *children(pid)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[process] = int(line.split()[1]) / 1024
    return {"sum": round(sum(peaks.values()), 1), "largest": round(max(peaks.values()), 1),
            "processes": len(peaks)}


class PssSampler:
    """The largest sum of the milter's processes' proportional set sizes seen while the
    block runs (sampled every 50 ms): memory the supervisor and its workers share after
    the fork counts once, as it is held once; each one's peak RSS would count it in each."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb = pid, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample)

    def __enter__(self) -> PssSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    def _sample(self) -> None:
        while not self.stop.wait(0.05):
            total = 0.0
            for process in [self.pid, *children(self.pid)]:
                try:
                    rollup = Path(f"/proc/{process}/smaps_rollup").read_text()
                except OSError:
                    continue    # a worker being replaced
                total += next(int(line.split()[1]) for line in rollup.splitlines()
                              if line.startswith("Pss:")) / 1024
            self.peak_mb = max(self.peak_mb, total)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def profiled(output: Path, pid: int, run_load) -> dict:
    """Run the load again with py-spy sampling the milter; the summary, printed later."""
    sampler = milter_profile.start(pid, seconds=600, output=output)
    time.sleep(1)       # attached
    result = run_load()
    sampler.send_signal(signal.SIGINT)      # py-spy writes what it has on SIGINT
    sampler.wait(timeout=60)
    return {**milter_profile.summarize(output, result["messages"]),
            "messages": result["messages"], "per_second": result["per_second"]}


class BenchRspamd(Rspamd):
    """The stack's rspamd (Debian's configuration, the role's local.d/ and override.d/,
    the stack's dnsmasq as its resolver), with --rspamd-workers normal workers."""

    workers = 1

    def role_values(self) -> dict[str, object]:
        return {**super().role_values(), "rspamd_workers": self.workers}


def clients_seen(log: Path) -> dict[str, int]:
    """The clients a milter's stage log lines name: XCLIENT's, unless --loopback-client."""
    seen: dict[str, int] = {}
    for client in re.findall(r" client=(\S+)", log.read_text(errors="replace")):
        seen[client] = seen.get(client, 0) + 1
    return seen


def detection(settings: Settings) -> list[dict]:
    """Each message of the corpus scored by both engines through the milter's own clients
    (mailbasic/scanners/engines.py), as its spam stage asks them: spamd with the default
    user, rspamd with the envelope; spam is a score of 5.0 or more with either."""
    engines = {"spamd": spam_engine(replace(settings, spam_engine="spamassassin")),
               "rspamd": spam_engine(replace(settings, spam_engine="rspamd"))}
    rows = []
    for sample in engine_corpus.detection_corpus():
        row: dict = {"message": sample.name, "spam": sample.spam,
                     "bytes": len(sample.message)}
        for label, engine in engines.items():
            try:
                verdict = engine.check(io.BytesIO(sample.message), len(sample.message),
                                       settings.spamd_default_user, sample.envelope)
                row[label] = {"score": verdict.score, "is_spam": verdict.is_spam,
                              "tests": list(verdict.tests)}
            except SpamdError as error:
                row[label] = {"error": str(error)}
        rows.append(row)
    return rows


def mixed_sizes(stream: list[bytes]) -> dict:
    bands = {"under 10 KB": 0, "10-500 KB": 0, "0.5-10 MB": 0}
    for message in stream:
        key = ("under 10 KB" if len(message) < 10 * 1024 else
               "10-500 KB" if len(message) <= 500 * 1024 else "0.5-10 MB")
        bands[key] += 1
    total = sum(map(len, stream))
    return {"messages": len(stream), **bands, "total_mb": round(total / MIB, 1),
            "mean_kb": round(total / len(stream) / 1024, 1),
            "largest_mb": round(max(map(len, stream)) / MIB, 2)}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--connections", type=int, default=20)
    options.add_argument("--messages", type=int, default=None,
                         help="per connection (25; 5 with --quick)")
    options.add_argument("--size", type=int, default=2048, help="message bytes")
    options.add_argument("--big", type=int, default=19 * MIB, help="bytes, memory test")
    options.add_argument("--spamd-children", type=int, default=10)
    options.add_argument("--rspamd-workers", type=int, default=1,
                         help="rspamd normal workers (1, the rspamd role's default)")
    options.add_argument("--mixed", action="store_true",
                         help="a second pass of C, Cr and R with issue 21's mixed sizes")
    options.add_argument("--mixed-messages", type=int, default=None,
                         help="per connection in the mixed pass (10; 3 with --quick)")
    options.add_argument("--mixed-seconds", type=float, default=10,
                         help="a mixed pass sends the stream again (new contents) until "
                              "it lasts this long")
    options.add_argument("--quick", action="store_true",
                         help="fewer messages, and no memory test")
    options.add_argument("--loopback-client", action="store_true",
                         help="send as 127.0.0.1 (no XCLIENT): rspamd then skips the "
                              "checks it keeps for outside clients (SPF, hfilter, ...)")
    options.add_argument("--paced-seconds", type=float, default=20,
                         help="length of each paced pass (latency at half R's rate)")
    options.add_argument("--relay", action="store_true",
                         help="relay each accepted message to smtp-sink (on the same cores) "
                              "instead of Postfix's discard transport")
    options.add_argument("--profile-pause", action="store_true",
                         help="wait for Enter before each variant (to attach a profiler)")
    arguments = options.parse_args()
    if arguments.messages is None:
        arguments.messages = 5 if arguments.quick else 25
    if arguments.mixed_messages is None:
        arguments.mixed_messages = 3 if arguments.quick else 10
    outside = not arguments.loopback_client

    root = Path(tempfile.mkdtemp(prefix="mailbasic-bench-"))
    root.chmod(0o755)  # the servers run as their own users
    stack = Stack(root / "stack", Ports.free())
    processes = Processes()
    postfix_etc = None
    stop_proxy: Callable[[], None] | None = None
    try:
        stack.prepare()
        # Enough spamd children that CPU, not the number of children, limits throughput.
        stack.spamd.max_children = arguments.spamd_children
        stack.rspamd = BenchRspamd(stack.layout, stack.ports.rspamd, stack.dns.address)
        stack.rspamd.workers = arguments.rspamd_workers
        # The resolver first, as the stack starts it: rspamd and the milter's sender
        # checks ask it. The outside domain as a large sender's is: DMARC and SPF for its
        # HELO name published, records with a TTL (cached, as a production resolver
        # does; the stack's tests keep TTL 0 to see what they publish at once).
        stack.dns.local_ttl = 300
        stack.dns.records += OUTSIDE_SENDER_RECORDS
        stack.dns.launch()
        stack.dns.wait_ready()
        for scanner in (stack.rspamd, stack.spamd, stack.clamd):
            scanner.launch()
        stack.start_database()
        for scanner in (stack.spamd, stack.clamd, stack.rspamd):
            scanner.wait_ready()
        # rspamd compiles its regular expressions for hyperscan after it starts and
        # scans more slowly until its worker has loaded them.
        if not rspamd_proxy.wait_hyperscan(stack.rspamd.logfile, "normal", timeout=180):
            print("warning: rspamd's worker has not logged its hyperscan database; "
                  "Cr may be measured while it compiles", flush=True)
        port = {name: free_port() for name in (
            "A", "N", "B", "RB", "C", "Cr", "P", "R", "M", "sink", "stand_spamd", "stand_clamd")}
        if arguments.relay:
            processes.start(["smtp-sink", "-u", "postfix", f"{HOST}:{port['sink']}", "256"],
                            root / "smtp-sink.log")
        processes.start([sys.executable, str(Path(__file__).with_name("standins.py")),
                         str(port["stand_spamd"]), str(port["stand_clamd"])],
                        root / "standins.log")
        wait_until(lambda: accepts_connections(port["stand_clamd"]), what="stand-ins",
                   timeout=30)
        # Messages are 2 KB; above the spam cap only in the memory test and the largest
        # of the mixed pass.
        base = replace(stack.settings, spamd_timeout=60, rspamd_timeout=60,
                       clamd_timeout=120)
        milters: dict[str, subprocess.Popen] = {}
        # B: the stand-in speaks SPAMC, so B's engine is spamd's protocol.
        milters["B"], socket_b = start_milter(processes, root, "milter-b", replace(
            base, spam_engine="spamassassin", spamd_port=port["stand_spamd"],
            clamd_port=port["stand_clamd"]))
        milters["C"], socket_c = start_milter(processes, root, "milter-c",
                                              replace(base, spam_engine="spamassassin"))
        milters["Cr"], socket_cr = start_milter(processes, root, "milter-cr",
                                                replace(base, spam_engine="rspamd"))
        memory_milter, socket_m = start_milter(processes, root, "milter-m", base)
        # P: rspamd's own milter (rspamd_proxy, self_scan, antivirus on the same clamd),
        # as docker-mailserver sets it up; on a unix socket like every other milter here.
        proxy, stop_proxy = rspamd_proxy.start_rspamd_proxy(
            root, stack, stack.ports.clamd, stack.dns.address, arguments.rspamd_workers,
            socket_path=socket_directory(root) / "rspamd-proxy.sock")
        noop = socket_directory(root) / "noop.sock"
        processes.start([sys.executable, str(Path(__file__).with_name("noop_milter.py")),
                         f"unix:{noop}"], root / "noop.log")
        wait_until(lambda: unix_accepts(noop), what="noop milter", timeout=30)
        variants = {
            "A": (port["A"], ""),
            "N": (port["N"], f"unix:{noop}"),
            "B": (port["B"], socket_b),
            "C": (port["C"], socket_c),
            "Cr": (port["Cr"], socket_cr),
            "P": (port["P"], proxy),
            "R": (port["R"], start_reference(processes, root, "r", stack.ports.clamd,
                                             stack.ports.spamd)),
            "RB": (port["RB"], start_reference(processes, root, "rb", port["stand_clamd"],
                                               port["stand_spamd"])),
            "M": (port["M"], socket_m),
        }
        postfix_etc = start_postfix(root, variants, port["sink"] if arguments.relay else None)

        payloads = [engine_corpus.text_message(arguments.size) if outside
                    else ham(arguments.size)]
        results: dict[str, Any] = {}
        for name in LABELS:
            if arguments.profile_pause:
                input(f"variant {name} next; Enter to start ")
            load(variants[name][0], payloads, 4, 5, outside)  # warm up: processes, caches
            results[name] = measured(variants[name][0], payloads, arguments.connections,
                                     arguments.messages, outside)
            print(f"{name}: {results[name]}", flush=True)

        # Where the milter's own CPU goes, in passes of their own (sampling costs CPU).
        results["profile"] = {}
        if milter_profile.available():
            for name in ("B", "Cr"):
                results["profile"][name] = profiled(
                    root / f"profile-{name}.raw", milters[name].pid,
                    partial(load, variants[name][0], payloads, arguments.connections,
                            arguments.messages, outside))
        else:
            print("py-spy not installed (pip install -e '.[bench]'): no profile")

        # Latency at half of R's throughput, paced (issue 21): due times, not a loop.
        rate = results["R"]["per_second"] / 2
        results["paced"] = {}
        for name in PACED_VARIANTS:
            results["paced"][name] = paced.paced(
                partial(connect, variants[name][0], outside),
                lambda client, stream: transaction(client, stream, outside)[0],
                [data_stream(payload) for payload in payloads], rate,
                count=max(int(rate * arguments.paced_seconds), 20),
                connections=arguments.connections)
            print(f"paced {name}: {results['paced'][name]}", flush=True)

        if arguments.mixed:
            count = arguments.connections * arguments.mixed_messages
            results["mixed"] = {"stream": mixed_sizes(engine_corpus.mixed_stream(count))}
            print(f"mixed sizes: {results['mixed']['stream']}", flush=True)
            for name in MIXED_VARIANTS:
                results["mixed"][name] = mixed_pass(variants[name][0], name, count,
                                                    arguments.connections, outside,
                                                    arguments.mixed_seconds)
                print(f"mixed {name}: {results['mixed'][name]}", flush=True)
            if milter_profile.available():
                results["profile"]["mixed Cr"] = profiled(
                    root / "profile-cr-mixed.raw", milters["Cr"].pid,
                    partial(load, variants["Cr"][0],
                            engine_corpus.mixed_stream(count, contents="profile"),
                            arguments.connections, arguments.mixed_messages, outside))

        # rspamd passes a message whose clamd scan failed; clamav-milter would defer it.
        results["P_antivirus_failures"] = rspamd_proxy.antivirus_failures(root)
        results["detection"] = {"rows": detection(base)}
        results["clients_seen"] = {name: clients_seen(root / f"{name}.log")
                                   for name in ("milter-c", "milter-cr")}

        if not arguments.quick:
            big = big_attachment(arguments.big)
            with PssSampler(memory_milter.pid) as pss:
                results["memory"] = load(variants["M"][0], [big], 20, 1, outside)
            results["memory"]["peak_pss_mb"] = round(pss.peak_mb, 1)
            results["memory"]["peak_rss_mb"] = peak_rss_mb(memory_milter.pid)
            print(f"memory: {results['memory']}", flush=True)
        report(results, arguments)
    finally:
        if postfix_etc:
            subprocess.run(["postfix", "-c", str(postfix_etc), "stop"], capture_output=True)
        processes.stop()
        if stop_proxy is not None:
            stop_proxy()
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


LABELS = {"A": "A Postfix, no milter", "N": "N no-op pymilter",
          "B": "B mailbasic, stand-in scanners",
          "RB": "R_B Debian's milters, stand-ins",
          "C": "C mailbasic, spamd + clamd",
          "Cr": "Cr mailbasic, rspamd + clamd",
          "P": "P rspamd_proxy milter, clamd",
          "R": "R clamav-milter + spamass-milter"}
MIXED_VARIANTS = ("C", "Cr", "P", "R")
PACED_VARIANTS = ("C", "Cr", "R")


def print_table(results: dict[str, dict], names) -> None:
    print(f"{'variant':<40}{'msg/s':>10}{'MB/s':>8}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'failed':>8}{'cores':>7}")
    for name in names:
        row = results[name]
        print(f"{LABELS[name]:<40}{row['per_second']:>10}{row['mb_per_second']:>8}"
              f"{row['p50_ms']:>10}{row['p99_ms']:>10}{row['failed']:>8}"
              f"{row['cores_busy']:>7}")


def report(results: dict[str, dict], arguments) -> None:
    a, n, b, rb, c, cr, p, r = (results[name] for name in LABELS)
    ratios = {
        "B/N throughput (issue 21 target >= 0.7)": b["per_second"] / n["per_second"],
        "B/R_B throughput (issue 21 target >= 1.0)": b["per_second"] / rb["per_second"],
        # Were the milter's own CPU zero, B's messages would still cost what Postfix
        # spends on a milter that takes every protocol step and changes headers, the
        # stand-ins, the database: where CPU bounds both, B/N could be at most this.
        "B/N if the milter cost no CPU (bound)": cpu_total(n) / (
            cpu_total(b) - b["cpu_ms_per_message"].get("mailbasic milter", 0.0)),
        "N/A throughput (no-op milter: the floor)": n["per_second"] / a["per_second"],
        "B/A throughput": b["per_second"] / a["per_second"],
        "Cr/R throughput (issue 21 target >= 10)": cr["per_second"] / r["per_second"],
        "C/R throughput (target >= 1.0)": c["per_second"] / r["per_second"],
        "Cr/C throughput (rspamd vs spamd)": cr["per_second"] / c["per_second"],
        "Cr/P throughput (issue 21 target >= 1.0)": cr["per_second"] / p["per_second"],
        "C/R p50 latency, closed loop (target <= 0.7)": c["p50_ms"] / r["p50_ms"],
        "Cr/R p50 latency, closed loop": cr["p50_ms"] / r["p50_ms"],
    }
    paced_rows = results["paced"]
    ratios.update({
        "paced at R/2: C/R p50 latency (issue 21 target <= 0.5)":
            paced_rows["C"]["p50_ms"] / paced_rows["R"]["p50_ms"],
        "paced at R/2: Cr/R p50 latency (issue 21 target <= 0.5)":
            paced_rows["Cr"]["p50_ms"] / paced_rows["R"]["p50_ms"],
    })
    mixed = results.get("mixed")
    if mixed:
        ratios.update({
            "mixed sizes: Cr/R throughput (target >= 10)":
                mixed["Cr"]["per_second"] / mixed["R"]["per_second"],
            "mixed sizes: C/R throughput":
                mixed["C"]["per_second"] / mixed["R"]["per_second"],
            "mixed sizes: Cr/C throughput":
                mixed["Cr"]["per_second"] / mixed["C"]["per_second"],
            "mixed sizes: Cr/P throughput (target >= 1.0)":
                mixed["Cr"]["per_second"] / mixed["P"]["per_second"],
            # Throughput is cores busy / CPU per message: were the milter's CPU zero (on
            # the cores Cr's pass kept busy), Cr/R could be at most this.
            "mixed sizes: Cr/R if the milter cost no CPU (bound)":
                (mixed["Cr"]["cores_busy"] / (cpu_total(mixed["Cr"]) - mixed["Cr"][
                    "cpu_ms_per_message"].get("mailbasic milter", 0.0)))
                / mixed["R"]["per_second"] * 1000,
        })
    print("\ndelivery: " + ("relayed to smtp-sink (--relay)" if arguments.relay
                            else "Postfix's discard transport"))
    print(f"\n{arguments.size} B messages, {arguments.connections} connections x "
          f"{arguments.messages}:")
    print_table(results, LABELS)
    if mixed:
        stream = mixed["stream"]
        print(f"\nmixed sizes, {stream['messages']} messages a round ({stream['under 10 KB']}"
              f" under 10 KB, {stream['10-500 KB']} 10-500 KB, {stream['0.5-10 MB']} "
              f"0.5-10 MB; mean {stream['mean_kb']} KB), {arguments.connections} connections, "
              f"rounds until a pass lasts {arguments.mixed_seconds:g} s (" + ", ".join(
                  f"{name} {mixed[name]['rounds']}" for name in MIXED_VARIANTS) + "):")
        print_table(mixed, MIXED_VARIANTS)
    print(f"\npaced: {paced_rows['R']['offered_per_second']} msg/s offered (half of R's "
          f"throughput), latency from when each message was due:")
    print(f"{'variant':<40}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name in PACED_VARIANTS:
        row = paced_rows[name]
        print(f"{LABELS[name]:<40}{row['p50_ms']:>10}{row['p90_ms']:>10}{row['p99_ms']:>10}"
              f"{row['failed']:>8}")
    print()
    for label, value in ratios.items():
        print(f"{label:<58}{value:>10.2f}")
    failed = [name for name in LABELS if results[name]["failed"]]
    failed += [f"mixed {name}" for name in MIXED_VARIANTS if mixed and mixed[name]["failed"]]
    if failed:
        print(f"warning: failed messages in {', '.join(failed)} (see failures in the JSON)")
    print("\nCPU ms per message, by process group (2 cores shared by all):")
    for name in LABELS:
        print_cpu(name, results[name])
    if mixed is not None:
        for name in MIXED_VARIANTS:
            print_cpu(f"mixed {name}", mixed[name])
    for label, summary in results["profile"].items():
        milter_profile.print_summary(f"the milter ({label})", summary)
    print(f"\nclients in the milters' logs: {results['clients_seen']}; messages P passed "
          f"with a failed clamd scan: {results['P_antivirus_failures']}")
    print_detection(results["detection"])
    memory = results.get("memory")
    if memory:
        peak = memory["peak_rss_mb"]
        print(f"\n{'peak milter memory, 20 x 19 MB (<= 150 MB)':<44}"
              f"{memory['peak_pss_mb']:>8} MB PSS of its {peak['processes']} processes "
              f"together (sampled; each one's peak RSS: largest {peak['largest']} MB, "
              f"sum {peak['sum']} MB, shared pages counted in each); {memory['messages']} "
              f"messages, {memory['failed']} failed")
    else:
        print("\nmemory test skipped (--quick)")
    print(f"\nraw figures: {results_file.save('milter', arguments, results, ratios)}")


def cpu_total(row: dict) -> float:
    """CPU ms per message of every process group of a variant's pass."""
    return sum(row["cpu_ms_per_message"].values())


def print_cpu(name: str, row: dict) -> None:
    groups = row["cpu_ms_per_message"]
    print(f"  {name}: " + ", ".join(f"{group} {value}" for group, value in
                                 sorted(groups.items(), key=lambda item: -item[1])))


def print_detection(detection: dict) -> None:
    rows = detection["rows"]
    print("\nDetection: the same messages scored by each engine through the milter's "
          "clients (spam: score >= 5.0)")
    print(f"{'message':<40}{'spamd':>16}{'rspamd':>16}")

    def cell(verdict: dict) -> str:
        if "error" in verdict:
            return "error"
        return f"{verdict['score']:.1f} {'spam' if verdict['is_spam'] else 'ham'}"

    for row in rows:
        print(f"{row['message']:<40}{cell(row['spamd']):>16}{cell(row['rspamd']):>16}")
    summary = {}
    for engine in ("spamd", "rspamd"):
        spams = [row[engine] for row in rows if row["spam"]]
        hams = [row[engine] for row in rows if not row["spam"]]
        caught = sum(bool(verdict.get("is_spam")) for verdict in spams)
        wrong = sum(bool(verdict.get("is_spam")) for verdict in hams)
        errors = sum("error" in verdict for verdict in spams + hams)
        summary[engine] = {"spam_caught": caught, "spam": len(spams),
                           "ham_flagged": wrong, "ham": len(hams), "errors": errors}
    detection["summary"] = summary
    print(f"{'spam caught':<40}" + "".join(
        f"{summary[e]['spam_caught']}/{summary[e]['spam']:<3}".rjust(16)
        for e in ("spamd", "rspamd")))
    print(f"{'ham flagged as spam':<40}" + "".join(
        f"{summary[e]['ham_flagged']}/{summary[e]['ham']:<3}".rjust(16)
        for e in ("spamd", "rspamd")))
    for engine in ("spamd", "rspamd"):
        print(f"  {engine} tests:")
        for row in rows:
            verdict = row[engine]
            tests = verdict.get("error") or ",".join(verdict["tests"]) or "none"
            print(f"    {row['message']}: {tests[:160]}")


if __name__ == "__main__":
    main()
