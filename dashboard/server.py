"""Start the dashboard: ``streamlit run dashboard/app.py`` with the project's settings.

Why Streamlit (1.67): it installs beside every pin of the project unchanged (checked with
``pip install --dry-run -c requirements/constraints.txt streamlit==1.67.0``: it adds only
altair, pydeck, watchdog and python-multipart; protobuf, pyarrow, tornado, packaging, pandas,
numpy, fastapi and starlette stay), it ships its whole frontend (JavaScript, fonts, Vega-Lite
for the Altair charts) inside the wheel, so pages work offline with no CDN, and a page is
plain Python over DataFrames, which keeps the page code thin. Dash would do too but would
add Flask-side callbacks and plotly.js for the same pages.

Telemetry is off (``browser.gatherUsageStats=false``, also ``DO_NOT_TRACK=1``); the file
watcher is off (nothing to reload in production, and it costs a core on a busy machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
#: Streamlit options: offline, no telemetry, no reloading.
FLAGS = {
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "global.developmentMode": "false",
    "client.toolbarMode": "minimal",
    "theme.base": "light",
}


def command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The ``python -m streamlit run`` command line for ``port``."""
    flags = FLAGS | {"server.port": str(port), "server.address": address}
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            *[f"--{k}={v}" for k, v in flags.items()]]


def environment(tenant: str | None = None, lake: str | None = None,
                outputs: str | None = None) -> dict[str, str]:
    """The server's environment: settings overrides, telemetry off, the package importable."""
    env = dict(os.environ)
    root = str(APP.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["DO_NOT_TRACK"] = "1"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    for key, value in (("OMS_ML_TENANT_ID", tenant), ("OMS_ML_LAKE_URI", lake),
                       ("OMS_ML_OUTPUT_URI", outputs)):
        if value:
            env[key] = value
    return env


def start(port: int, tenant: str | None = None, lake: str | None = None,
          outputs: str | None = None, address: str = "127.0.0.1",
          **popen: object) -> subprocess.Popen:
    """Start the dashboard server in a child process (the caller stops it)."""
    return subprocess.Popen(command(port, address), env=environment(tenant, lake, outputs),
                            **popen)  # type: ignore[arg-type]
