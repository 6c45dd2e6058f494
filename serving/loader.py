"""Loading a new router version in a helper process; the serving process only unpickles it.

A hot swap used to load the new version in a worker thread of the serving process: MLflow
resolves the version, parses its MLmodel YAML, unpickles the pyfunc, SB3/torch load the
network, the fast path is built and checked against ``route_frame`` — about 75 ms of CPU per
router (``bench/serve_tail.py``), all of it holding the GIL in Python-level slices that the
event loop had to share while it answered requests at 300/s. :class:`LoaderProcess` does that
work in a child process started (and warmed up: mlflow, torch, SB3 imported) when the service
starts. For a router whose fast path is the exact numpy Q-head (parity checked in the child)
the child sends back the :class:`~models.routing.fastpath.FastRouter` without the torch
model (about 26 kB, 0.2 ms to unpickle); every other case — no numpy head, parity failure,
a load error, a dead or hung child, a child still warming up (about 30 s after start on a
loaded 2-core machine; a swap never waits for it) — is answered with ``None`` and the caller
loads in process as before, so the degraded/fallback behaviour and the error reporting are
unchanged.

The protocol is length-prefixed pickles over the child's stdin/stdout (a private pipe to a
child this process started); the child sends its stray prints to stderr.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LoadedElsewhere:
    """Stands in a slot for a router pyfunc loaded in the loader process.

    Only its fast path lives in the serving process; ``fast_path`` is always true for such a
    slot (``_rows_decision`` never needs the pyfunc).
    """

    uri: str


class LoaderProcess:
    """A child process that loads router versions and returns their fast paths.

    Args:
        tracking_uri: MLflow tracking/registry URI the child uses.
        timeout: Seconds to wait for one load before giving up on the child.
    """

    def __init__(self, tracking_uri: str, timeout: float = 120.0) -> None:
        self.tracking_uri, self.timeout = tracking_uri, timeout
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._warm: list[str] = []
        self._ready = False  # the child sends ("ready", None) once warmed up

    def start(self, warm: list[str] | None = None) -> None:
        """Start the child; no wait.

        The child imports and loads the ``warm`` model URIs once (the current champions), so
        that the first swap finds every code path and cache warm.
        """
        with self._lock:
            self._warm = list(warm or [])
            self._ensure()

    def _ensure(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
               "MLFLOW_TRACKING_URI": self.tracking_uri, "OMP_NUM_THREADS": "1",
               "OMS_ML_LOADER_WARM": "\n".join(self._warm)}
        self._ready = False
        self._proc = subprocess.Popen([sys.executable, "-m", "serving.loader"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._proc

    def ready(self) -> bool:
        """Whether the child has warmed up (non-blocking; ``False`` while a load runs)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            if not self._ready and select.select([proc.stdout], [], [], 0)[0]:
                self._ready = _receive(proc.stdout, self.timeout) == ("ready", None)
            return self._ready
        except Exception:  # noqa: BLE001 — a broken child is simply not ready
            return False
        finally:
            self._lock.release()

    def load_router(self, uri: str) -> Any:
        """The detached fast path of router ``uri``, or ``None`` (then load in process).

        ``None`` at once while the child is still warming up: a swap never waits for it.
        """
        with self._lock:
            try:
                proc = self._ensure()
                if not self._ready:
                    if not select.select([proc.stdout], [], [], 0)[0]:
                        log.info("loader process still warming up; loading %s in process", uri)
                        return None
                    self._ready = _receive(proc.stdout, self.timeout) == ("ready", None)
                _send(proc.stdin, ("router", uri))
                status, value = _receive(proc.stdout, self.timeout)
            except Exception as e:  # noqa: BLE001 — any failure: the caller loads in process
                log.warning("loader process failed on %s (%s); loading in process", uri,
                            type(e).__name__)
                self._stop()
                return None
        if status != "ok":
            log.info("loader process: %s for %s; loading in process", value, uri)
            return None
        return value

    def close(self) -> None:
        """Stop the child."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=10)
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _receive(stream: Any, timeout: float | None = None) -> Any:
    if timeout is not None and not select.select([stream], [], [], timeout)[0]:
        raise TimeoutError(f"no answer in {timeout} s")
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("loader process closed its pipe")
    n = int.from_bytes(header, "big")
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("loader process closed its pipe")
    return pickle.loads(data)  # noqa: S301 — our own child over a private pipe


def _load(uri: str) -> tuple[str, Any]:
    from serving.registry import _load_router

    _, fast, ok = _load_router(uri)
    if not ok or fast.scorer != "numpy":
        return "in-process", "fast path is not the exact numpy head"
    fast.router = None  # the numpy head scores; the torch model stays in this process
    return "ok", fast


def main() -> None:
    """Child loop: read ``(kind, uri)``, answer ``(status, value)`` until stdin closes."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints of the libraries go to stderr, never into the pipe
    inp = sys.stdin.buffer
    import mlflow
    import torch

    torch.set_num_threads(1)
    uri = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for warm in filter(None, os.environ.get("OMS_ML_LOADER_WARM", "").split("\n")):
        try:  # warm-up: the whole load path once (imports, registry store, artifact repos)
            _load(warm)
        except Exception as e:  # noqa: BLE001 — a warm-up failure only costs speed
            print(f"loader warm-up on {warm} failed: {type(e).__name__}", file=sys.stderr)

    ready = pickle.dumps(("ready", None))
    out.write(len(ready).to_bytes(8, "big") + ready)
    out.flush()
    while True:
        try:
            kind, model_uri = _receive(inp)
        except EOFError:
            return
        try:
            reply = _load(model_uri) if kind == "router" else ("error", f"unknown {kind}")
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 — reported to the parent, which loads itself
            data = pickle.dumps(("error", f"{type(e).__name__}: {e}"))
        out.write(len(data).to_bytes(8, "big") + data)
        out.flush()


if __name__ == "__main__":
    main()
