"""Entry point of the ``oms-ml`` command line (``oms-ml --help``)."""

from __future__ import annotations

from flows.apps import app
from flows.commands import (  # noqa: F401  (register commands)
    churn,
    data,
    features,
    flows,
    forecast,
    generate,
    importer,
    ingest,
    report,
    risk,
    routing,
    serve,
)

__all__ = ["app"]

if __name__ == "__main__":
    app()
