"""Committed documentation that is generated must match its source."""

from __future__ import annotations

from pathlib import Path

from oms.contract import contract_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_contract_reference_is_current():
    committed = (ROOT / "docs" / "contract.md").read_text()
    assert committed.strip() == contract_markdown().strip(), (
        "docs/contract.md is stale: run `oms-ml contract docs`"
    )


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme
