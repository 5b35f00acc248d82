"""What every forked worker of ours needs (the policy daemon's, the milter's)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1    # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """A worker must never outlive the process that forked it (it would go on answering
    with stale settings, unseen by init scripts and units, on a socket a restarted daemon
    has replaced): the kernel sends it SIGTERM when its parent dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:   # the parent died before prctl took effect (fork race)
        os._exit(0)
