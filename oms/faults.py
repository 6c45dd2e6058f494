"""Fault injection for tests: ``checkpoint(name)`` kills the process at a named point.

Publishing code calls :func:`checkpoint` at every rename and commit point. When the
environment variable ``OMS_ML_KILL_AT`` equals the checkpoint's name, the process sends
itself ``SIGKILL`` right there — no ``finally`` block, no ``atexit`` handler runs, exactly
like a machine losing power or an OOM kill. Tests run a command in a subprocess with that
variable set and then check that the lake is wholly the old version or wholly the new one.

Unset (the normal case), a checkpoint costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "OMS_ML_KILL_AT"

#: Every checkpoint name used by the code, in the order a publish passes them.
CHECKPOINTS = (
    "publish:staged",
    "publish:renamed",
    "publish:pointer-written",
    "publish:switched",
    "publish:gc",
    "ingest:validated",
    "ingest:merged",
    "ingest:quarantine",
    "features:computed",
    "features:written",
)


def checkpoint(name: str) -> None:
    """SIGKILL this process if ``OMS_ML_KILL_AT`` names this checkpoint (test hook)."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
