"""The milter's worker processes.

One Python process computes on one core at a time (its interpreter lock), however many
threads libmilter gives it: a milter of one process leaves the server's other cores idle
while Postfix waits. So the milter forks. The listening socket is opened once, before any
thread exists; each worker then runs libmilter's accept loop on that same socket and the
kernel hands each connection from Postfix to one of them. The first process stays as the
supervisor: it starts a worker again when one dies, stops them all on SIGTERM or SIGINT,
and gives up (exit 1, for the service manager to restart everything) when workers keep
dying as soon as they start.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from mailbasic.forking import die_with_parent

log = logging.getLogger("mailbasic.milter")

QUICK_DEATH_SECONDS = 5.0       # a worker that dies sooner counts as failing to start
QUICK_DEATHS_TOLERATED = 5


class Supervisor:
    """Runs `serve` in `count` forked workers and keeps that many running.

    `reaped(pid)` runs after each worker's end (its leftovers: spool files); `usable()`
    after a worker's unplanned end says whether the others can still be reached (a
    worker whose libmilter shuts down removes the unix socket's name, which they share):
    if not, everything stops, exit status 1, for the service manager to start anew."""

    def __init__(self, count: int, serve: Callable[[], None],
                 reaped: Callable[[int], None] = lambda pid: None,
                 usable: Callable[[], bool] = lambda: True) -> None:
        self.count, self.serve = count, serve
        self.reaped, self.usable = reaped, usable
        self.workers: dict[int, float] = {}     # pid -> when it started
        self.stopping = False
        self.quick_deaths = 0

    def run(self) -> int:
        """Until stopped; the exit status for the supervisor's process."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self.count):
            self._start()
        status = 0
        while self.workers:
            pid, wait_status = os.wait()
            started = self.workers.pop(pid, None)
            if started is None:
                continue
            self.reaped(pid)
            if self.stopping:
                continue
            log.warning("milter: stage=workers verdict=restart reason=worker %d ended "
                        "(%s)", pid, describe(wait_status))
            self.quick_deaths = (self.quick_deaths + 1
                                 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0)
            if self.quick_deaths > QUICK_DEATHS_TOLERATED or not self.usable():
                log.error("milter: stage=workers verdict=stop reason=%s; stopping",
                          "workers die as they start" if self.usable()
                          else "the listening socket is gone")
                self._stop(signal.SIGTERM, None)
                status = 1
                continue
            self._start()
        return status

    def _start(self) -> None:
        if self.stopping:
            return
        supervisor = os.getpid()
        # No SIGTERM between the fork and the pid's being known (it would miss the new
        # worker) or the child's own handlers (it would run the supervisor's).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        pid = os.fork()
        if pid:
            self.workers[pid] = time.monotonic()
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            die_with_parent(supervisor)
            self.serve()
            code = 0
        except BaseException:   # the worker's own end: logged, never raised into the fork
            log.exception("milter: stage=workers verdict=error reason=worker failed")
        finally:
            logging.shutdown()
            os._exit(code)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass    # ended already; os.wait() reaps it


def describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"signal {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(wait_status)}"


def worker_count(configured: int) -> int:
    """The configured number, or one per CPU this process may run on (0)."""
    return configured or len(os.sched_getaffinity(0)) or 1
