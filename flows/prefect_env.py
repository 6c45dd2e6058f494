"""Prefect defaults for the embedded (ephemeral) API; import before ``prefect``.

On a busy 2-core machine the ephemeral server can need more than Prefect's 20 s to start, and
its SQLite store is easily locked by the telemetry heartbeat; these defaults avoid both.
Telemetry is off by default (``DO_NOT_TRACK=1``, server analytics off): the machines this runs
on may have no internet. Every value is only a default: a real ``PREFECT_API_URL`` or
explicit settings win.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
    "PREFECT_LOGGING_LOG_PRINTS": "true",
}

for _key, _value in DEFAULTS.items():
    os.environ.setdefault(_key, _value)
