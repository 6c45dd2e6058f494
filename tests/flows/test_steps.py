"""Flow steps and the summary without Prefect: skipped vs failed, exit codes, the table."""

from __future__ import annotations

import pytest
from rich.console import Console

from flows import steps
from flows.summary import FAILED, OK, SKIPPED, FlowSummary, StepResult, render


def test_missing_champion_is_skipped_with_a_clear_message(settings, mlflow_uri):
    res = steps.forecast_step("acme", "volume", settings.lake, settings.outputs, "2024-05-01")
    assert res.status == SKIPPED
    assert "no champion registered for 'order_volume_forecaster__acme'" in res.reason
    assert res.files == []


def test_bad_input_fails_with_the_reason(settings, mlflow_uri):
    res = steps.churn_step("acme", settings.lake, settings.outputs, "2024-05-01")
    assert res.status == FAILED and "orders" in res.reason


def test_a_bug_is_not_reported_as_a_skip():
    with pytest.raises(KeyError), steps.timed("x", "acme"):
        raise KeyError("column")


def test_exit_code_counts_only_failures_and_the_table_names_every_reason():
    summary = FlowSummary("daily batch", [
        StepResult("ingest", "acme", SKIPPED, "no new landing files since 2024-05-01"),
        StepResult("forecast volume", "acme", OK, files=["a", "b"], rows_in=7),
    ])
    assert summary.exit_code == 0
    summary.steps.append(StepResult("score churn", "acme", FAILED, "x" * 200))
    assert summary.exit_code == 1 and summary.failed[0].step == "score churn"
    console = Console(record=True, width=160)
    render(summary, console)
    text = console.export_text()
    assert "no new landing files since 2024-05-01" in text
    assert "[3] score churn: " + "x" * 200 in text.replace("\n", "")


def test_run_date_is_validated():
    from flows.daily import resolve_run_date

    assert resolve_run_date("2024-05-01") == "2024-05-01"
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve_run_date("yesterday")
