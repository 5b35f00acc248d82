"""Latency at a fixed offered load (issue 21): message i is due at start + i / rate, and
its latency runs from when it was due to the server's answer after DATA, whatever it
waited for (a free connection, the server's queue). In a closed loop, where a client
sends its next message when the last is answered, every latency is mostly the queue;
here a slower filter shows as the time its messages wait."""

from __future__ import annotations

import queue
import smtplib
import statistics
import threading
import time
from collections.abc import Callable

Send = Callable[[smtplib.SMTP, bytes], int]


def paced(connect: Callable[[], smtplib.SMTP], send: Send, payloads: list[bytes],
          rate: float, count: int, connections: int) -> dict:
    """`connections` clients take the messages in order as they fall due; `send` answers
    the SMTP code after DATA."""
    start = time.perf_counter() + 0.5
    due: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
    for index in range(count):
        due.put((start + index / rate, payloads[index % len(payloads)]))
    for _ in range(connections):
        due.put(None)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            with connect() as connection:
                while (item := due.get()) is not None:
                    at, payload = item
                    if (wait := at - time.perf_counter()) > 0:
                        time.sleep(wait)
                    code = send(connection, payload)
                    with lock:
                        latencies.append(time.perf_counter() - at)
                        if code != 250:
                            failures.append(str(code))
        except (OSError, smtplib.SMTPException) as error:
            with lock:
                failures.append(repr(error))

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {"offered_per_second": round(rate, 2), "messages": len(latencies),
            "failed": len(failures), "failures": failures[:5],
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p90_ms": round(latencies[int(len(latencies) * 0.9) - 1] * 1000, 1),
            "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1)}
