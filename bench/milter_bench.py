"""Milter benchmark: throughput and end-of-data latency side by side in one run, and the
milter's peak memory with 20 concurrent 20 MB messages.

One Postfix (relaying to smtp-sink) with one smtpd port per variant:
  A  no milter
  N  a pymilter milter that does nothing (bench/noop_milter.py): the protocol's floor
  B  mailbasic milter with instant stand-in scanners (bench/standins.py)
  C  mailbasic milter with the real spamd + clamd
  R  Debian's clamav-milter + spamass-milter with the same spamd + clamd
Targets (issue 3): B/A >= 0.8; C/R >= 1.0 in messages/s; C p50 <= 0.7 x R p50;
peak RSS <= 150 MB. Run with `make bench`; raw figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import grp
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import results_file

from mailbasic.config import MIB, Settings, render_settings
from mailbasic.devstack import Stack
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.devstack.process import accepts_connections, free_port, greeting, wait_until

SENDER, RECIPIENT = "sender@bench.example", "rcpt@bench.example"


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


def start_reference(processes: Processes, root: Path, stack: Stack) -> str:
    sockets = socket_directory(root)
    clamav, spamass = sockets / "clamav-milter.sock", sockets / "spamass-milter.sock"
    config = root / "clamav-milter.conf"
    config.write_text(f"MilterSocket {clamav}\nMilterSocketMode 660\nForeground yes\n"
                      f"ClamdSocket tcp:{HOST}:{stack.ports.clamd}\nOnClean Accept\n"
                      "OnInfected Reject\nOnFail Defer\nAddHeader Replace\n"
                      "LogFile " + str(root / "clamav-milter-internal.log") + "\n"
                      "MaxFileSize 40M\nReadTimeout 120\n")
    processes.start(["clamav-milter", "-c", str(config)], root / "clamav-milter.log")
    processes.start(["spamass-milter", "-p", str(spamass), "-u", "mailbasic",
                     "--", "-d", HOST, "-p", str(stack.ports.spamd)],
                    root / "spamass-milter.log")
    for path in (clamav, spamass):
        wait_until(partial(unix_accepts, path), what=f"reference milter {path.name}",
                   timeout=30)
    return f"unix:{clamav},unix:{spamass}"


def start_postfix(root: Path, variants: dict[str, tuple[int, str]], sink_port: int) -> Path:
    """Relays everything to smtp-sink on SINK_PORT, one smtpd per variant."""
    return start_bench_postfix(root, {port: milters for port, milters in variants.values()},
                               f"""relay_transport = smtp:[{HOST}]:{sink_port}
message_size_limit = {20 * MIB}
milter_content_timeout = 300s
smtp_destination_concurrency_limit = 50
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
smtpd_relay_restrictions = permit_mynetworks, reject
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


def load(port: int, payload: bytes, connections: int, per_connection: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with smtplib.SMTP(HOST, port, timeout=600) as client:
                client.ehlo("bench.client")
                for _ in range(per_connection):
                    client.mail(SENDER)
                    client.rcpt(RECIPIENT)
                    started = time.perf_counter()
                    code, text = client.data(payload)
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
                        if code != 250:
                            failures.append(f"{code} {text!r}")
        except (OSError, smtplib.SMTPException) as error:
            with lock:
                failures.append(repr(error))

    wall = results_file.run_workers([worker] * connections)
    latencies.sort()
    return {"messages": len(latencies), "failures": failures[:5],
            "failed": len(failures), "seconds": round(wall, 3),
            "per_second": round(len(latencies) / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)}


CPU_GROUPS = {
    "postfix": {"master", "smtpd", "cleanup", "qmgr", "smtp", "trivial-rewrite", "anvil",
                "postlogd", "smtp-sink", "proxymap", "tlsmgr", "scache"},
    "scanners": {"spamd", "spamd child", "clamd", "clamav-milter", "spamass-milter",
                 "spamc"},
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
            group = "scanners"
        elif int(stat.parent.name) == os.getpid():
            group = "load generator"
        else:
            group = next((group for group, names in CPU_GROUPS.items() if name in names),
                         None)
        if group:
            totals[group] = totals.get(group, 0.0) + used
    return totals


def measured(port: int, payload: bytes, connections: int, per_connection: int) -> dict:
    before = cpu_seconds()
    result = load(port, payload, connections, per_connection)
    after = cpu_seconds()
    result["cpu_ms_per_message"] = {
        group: round((after[group] - before.get(group, 0.0)) * 1000 / result["messages"], 2)
        for group in after if after[group] - before.get(group, 0.0) > 0}
    return result


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--connections", type=int, default=20)
    options.add_argument("--messages", type=int, default=25, help="per connection")
    options.add_argument("--size", type=int, default=2048, help="message bytes")
    options.add_argument("--big", type=int, default=19 * MIB, help="bytes, memory test")
    options.add_argument("--spamd-children", type=int, default=10)
    options.add_argument("--profile-pause", action="store_true",
                         help="wait for Enter before each variant (to attach a profiler)")
    arguments = options.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mailbasic-bench-"))
    root.chmod(0o755)  # the servers run as their own users
    stack = Stack(root / "stack", Ports.free())
    processes = Processes()
    postfix_etc = None
    try:
        stack.prepare()
        # Enough spamd children that CPU, not the number of children, limits throughput.
        stack.spamd.max_children = arguments.spamd_children
        for scanner in (stack.spamd, stack.clamd):
            scanner.launch()
        stack.start_database()
        stack.spamd.wait_ready()
        stack.clamd.wait_ready()
        port = {name: free_port() for name in (
            "A", "N", "B", "C", "R", "M", "sink", "stand_spamd", "stand_clamd")}
        processes.start(["smtp-sink", "-u", "postfix", f"{HOST}:{port['sink']}", "256"],
                        root / "smtp-sink.log")
        processes.start([sys.executable, str(Path(__file__).with_name("standins.py")),
                         str(port["stand_spamd"]), str(port["stand_clamd"])],
                        root / "standins.log")
        wait_until(lambda: accepts_connections(port["stand_clamd"]), what="stand-ins",
                   timeout=30)
        # Messages are 2 KB; above the spam cap only in the memory test.
        base = replace(stack.settings, spamd_timeout=60, clamd_timeout=120)
        _, socket_b = start_milter(processes, root, "milter-b", replace(
            base, spamd_port=port["stand_spamd"], clamd_port=port["stand_clamd"]))
        _, socket_c = start_milter(processes, root, "milter-c", base)
        memory_milter, socket_m = start_milter(processes, root, "milter-m", base)
        noop = socket_directory(root) / "noop.sock"
        processes.start([sys.executable, str(Path(__file__).with_name("noop_milter.py")),
                         f"unix:{noop}"], root / "noop.log")
        wait_until(lambda: unix_accepts(noop), what="noop milter", timeout=30)
        variants = {
            "A": (port["A"], ""),
            "N": (port["N"], f"unix:{noop}"),
            "B": (port["B"], socket_b),
            "C": (port["C"], socket_c),
            "R": (port["R"], start_reference(processes, root, stack)),
            "M": (port["M"], socket_m),
        }
        postfix_etc = start_postfix(root, variants, port["sink"])

        payload = ham(arguments.size)
        results: dict[str, dict] = {}
        for name in ("A", "N", "B", "C", "R"):
            if arguments.profile_pause:
                input(f"variant {name} next; Enter to start ")
            load(variants[name][0], payload, 4, 5)  # warm up: processes, caches
            results[name] = measured(variants[name][0], payload, arguments.connections,
                                     arguments.messages)
            print(f"{name}: {results[name]}", flush=True)

        big = big_attachment(arguments.big)
        results["memory"] = load(variants["M"][0], big, 20, 1)
        results["memory"]["peak_rss_mb"] = round(peak_rss_mb(memory_milter.pid), 1)
        print(f"memory: {results['memory']}", flush=True)
        report(results, arguments)
    finally:
        if postfix_etc:
            subprocess.run(["postfix", "-c", str(postfix_etc), "stop"], capture_output=True)
        processes.stop()
        stack.down()
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, dict], arguments) -> None:
    a, n, b, c, r = (results[name] for name in "ANBCR")
    ratios = {
        "B/A throughput (target >= 0.8)": b["per_second"] / a["per_second"],
        "N/A throughput (no-op milter: floor)": n["per_second"] / a["per_second"],
        "B/N throughput (mailbasic vs no-op)": b["per_second"] / n["per_second"],
        "C/R throughput (target >= 1.0)": c["per_second"] / r["per_second"],
        "C/R p50 latency (target <= 0.7)": c["p50_ms"] / r["p50_ms"],
    }
    print()
    print(f"{'variant':<40}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name, label in (("A", "A Postfix, no milter"), ("N", "N no-op pymilter"),
                        ("B", "B mailbasic, stand-in scanners"),
                        ("C", "C mailbasic, spamd + clamd"),
                        ("R", "R clamav-milter + spamass-milter")):
        row = results[name]
        print(f"{label:<40}{row['per_second']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}"
              f"{row['failed']:>8}")
    print()
    for label, value in ratios.items():
        print(f"{label:<40}{value:>10.2f}")
    print("\nCPU ms per message, by process group (2 cores shared by all):")
    for name in "ANBCR":
        groups = results[name]["cpu_ms_per_message"]
        print(f"  {name}: " + ", ".join(f"{group} {value}" for group, value in
                                     sorted(groups.items(), key=lambda item: -item[1])))
    memory = results["memory"]
    print(f"{'peak milter RSS, 20 x 20 MB (<= 150 MB)':<40}{memory['peak_rss_mb']:>10} MB"
          f"  ({memory['messages']} messages, {memory['failed']} failed)")
    print(f"\nraw figures: {results_file.save('milter', arguments, results, ratios)}")


if __name__ == "__main__":
    main()
