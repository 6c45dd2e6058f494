"""Prefect flows and the ``oms-ml`` CLI (Prefect's defaults are set before Prefect loads)."""

from flows import prefect_env  # noqa: F401  (environment defaults only; imports nothing heavy)
