"""Functional check of bench/rspamd_proxy.py: rspamd's own milter behind a Postfix.

Starts the stack's dnsmasq and clamd, rspamd's milter proxy (start_rspamd_proxy), an
smtp-sink that keeps what it receives, and the benchmark's throwaway Postfix with one
smtpd using the proxy; sends, as the outside domain's mail host (XCLIENT), a ham message
(250 and its headers at the sink), GTUBE (5xx, rspamd's reject action) and the EICAR test
file (5xx, the antivirus module asking clamd). Prints what came back; stops everything.

    .venv/bin/python bench/rspamd_proxy_check.py [--upstream] [--keep]
"""

from __future__ import annotations

import argparse
import email.utils
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import engine_corpus
from milter_bench import OUTSIDE_CLIENT, RECIPIENT, Processes, load, socket_directory, start_postfix
from rspamd_proxy import antivirus_failures, log_file, start_rspamd_proxy

from mailbasic.devstack import Stack
from mailbasic.devstack.dns import OUTSIDE_MAIL_HOST
from mailbasic.devstack.layout import HOST, Ports
from mailbasic.devstack.process import accepts_connections, free_port, wait_until

# The industry's harmless test file (https://www.eicar.org), 68 bytes, split so that no
# scanner flags this source file itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def message(subject: str, body: bytes) -> bytes:
    sender = engine_corpus.OUTSIDE_SENDER
    return (f"From: Carol Jones <{sender}>\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@outside.example>\r\n"
            f"Date: {email.utils.formatdate()}\r\n\r\n").encode() + body + b"\r\n"


def send(port: int, payload: bytes) -> tuple[int, str]:
    with smtplib.SMTP(HOST, port, timeout=120) as client:
        client.ehlo("check.client")
        code, text = client.docmd("XCLIENT", OUTSIDE_CLIENT)
        if code != 220:
            return code, f"XCLIENT refused: {text!r}"
        client.ehlo(OUTSIDE_MAIL_HOST)
        client.mail(engine_corpus.OUTSIDE_SENDER)
        client.rcpt(RECIPIENT)
        code, text = client.data(payload)
        return code, text.decode(errors="replace")


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--upstream", action="store_true",
                         help="mailcow's setup: the proxy hands messages to a normal worker")
    options.add_argument("--unix", action="store_true",
                         help="the milter on a unix socket, not on a loopback port")
    options.add_argument("--keep", action="store_true", help="keep the temporary directory")
    arguments = options.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailbasic-rspamd-proxy-"))
    root.chmod(0o755)   # the servers run as their own users
    stack = Stack(root / "stack", Ports.free())
    processes = Processes()
    postfix_etc = stop_proxy = None
    failures = 0
    try:
        stack.prepare()
        stack.dns.launch()
        stack.dns.wait_ready()
        stack.clamd.launch()
        stack.clamd.wait_ready()
        started = time.monotonic()
        milter, stop_proxy = start_rspamd_proxy(root, stack, stack.ports.clamd,
                                                stack.dns.address,
                                                self_scan=not arguments.upstream,
                                                socket_path=socket_directory(root)
                                                / "rspamd-proxy.sock" if arguments.unix
                                                else None)
        print(f"rspamd proxy ready in {time.monotonic() - started:.1f}s: {milter}",
              flush=True)
        smtpd, sink = free_port(), free_port()
        received = root / "sink"
        received.mkdir()
        shutil.chown(received, "postfix")
        processes.start(["smtp-sink", "-u", "postfix", "-d", f"{received}/%H%M%S.",
                         f"{HOST}:{sink}", "64"], root / "smtp-sink.log")
        wait_until(lambda: accepts_connections(sink), what="smtp-sink", timeout=30)
        postfix_etc = start_postfix(root, {"P": (smtpd, milter)}, sink)

        cases = [
            ("ham", engine_corpus.text_message(2048), 250),
            ("GTUBE", message("gtube", engine_corpus.GTUBE.encode()), 5),
            ("EICAR", message("eicar", EICAR), 5),
        ]
        for name, payload, expected in cases:
            code, text = send(smtpd, payload)
            ok = code == expected or code // 100 == expected
            failures += not ok
            print(f"{name:<6} {code} {text}  [{'ok' if ok else 'UNEXPECTED'}]", flush=True)

        delivered = wait_until(lambda: sorted(received.iterdir()), what="ham at smtp-sink",
                               timeout=30)
        assert isinstance(delivered, list)
        print(f"\nsmtp-sink received {len(delivered)} message(s); the ham's headers:")
        text = delivered[0].read_text(errors="replace")
        headers = text[:text.find("\n\n")] if "\n\n" in text else text
        added = [line for line in headers.splitlines() if line.lower().startswith(
            ("x-spam", "x-rspamd", "authentication-results", "\t", " "))]
        print("\n".join(added) or "(no X-Spam headers)")
        failures += not any(line.lower().startswith("x-spam-status") for line in added)
        log = log_file(root).read_text(errors="replace")
        print("\nrspamd's log on the messages:")
        for line in log.splitlines():
            if "rspamd_task_write_log" in line or "antivirus" in line.lower():
                print("  " + line[:400])
        print(f"\nantivirus scans that failed: {antivirus_failures(root)}")
        # Not a benchmark: one client, 10 messages in a row, to see the latency's order.
        timing = load(smtpd, [engine_corpus.text_message(2048)], 1, 10)
        print(f"10 hams in a row, one client: p50 {timing['p50_ms']} ms, "
              f"failed {timing['failed']}")
        print(f"\n{'all as expected' if not failures else f'{failures} unexpected'}")
        return 1 if failures else 0
    finally:
        if postfix_etc:
            subprocess.run(["postfix", "-c", str(postfix_etc), "stop"], capture_output=True)
        processes.stop()
        if stop_proxy:
            stop_proxy()
        stack.down()
        if arguments.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
