"""One Prefect test harness (a temporary local API) for every flow test in this folder."""

from __future__ import annotations

import pytest

import flows.prefect_env  # noqa: F401  (Prefect defaults before prefect is imported)


@pytest.fixture(scope="session")
def prefect_harness():
    """Run flows against a throwaway Prefect API, started once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
