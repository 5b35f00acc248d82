"""The milter's connection records: client, port, HELO name and TLS of every connection.

Postfix's log has the rest of a session (delivery/); the HELO name only the milter sees.
Records are written off the SMTP path, in batches, by one thread: a connection record is
never worth delaying mail. While the database is away they wait, up to a bound, past
which the oldest are dropped with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from mailbasic.schema import MilterConnection

log = logging.getLogger("mailbasic.milter")


class ConnectionLog:
    def __init__(self, engine: Engine, flush_seconds: float = 1.0,
                 limit: int = 100_000) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.pending: deque[dict[str, Any]] = deque(maxlen=limit)
        self.dropped = 0
        self.lock = threading.Lock()
        self.wake = threading.Event()
        threading.Thread(target=self._writer, name="connection-log", daemon=True).start()

    def add(self, *, connected_at: datetime, closed_at: datetime, client_address: str,
            client_port: int | None, client_name: str, helo: str, tls: str | None,
            transactions: int) -> None:
        record = {"connected_at": connected_at, "closed_at": closed_at,
                  "client_address": client_address, "client_port": client_port,
                  "client_name": client_name, "helo": helo, "tls": tls,
                  "transactions": transactions}
        with self.lock:
            if len(self.pending) == self.pending.maxlen:
                self.dropped += 1
            self.pending.append(record)

    def flush(self) -> None:
        """Write what is pending now (also the writer thread's one step)."""
        with self.lock:
            batch, dropped = list(self.pending), self.dropped
            self.pending.clear()
            self.dropped = 0
        if dropped:
            log.warning("milter: stage=connections verdict=dropped reason=%d connection "
                        "records lost while the database was unavailable", dropped)
        if not batch:
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(MilterConnection), batch)
        except SQLAlchemyError as error:
            with self.lock:  # back in front, oldest first, for the next attempt
                self.pending.extendleft(reversed(batch))
            log.error("milter: stage=connections verdict=retry reason=%s",
                      str(error).strip().splitlines()[0])

    def _writer(self) -> None:
        while True:
            self.wake.wait(self.flush_seconds)
            self.wake.clear()
            self.flush()
