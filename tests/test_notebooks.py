"""The notebooks data scientists start from must run top to bottom on a fresh checkout."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("OMS_ML_DATA_DIR", str(tmp_path / "data"))  # no lake: generates tiny
    monkeypatch.setenv("OMS_ML_NOTEBOOK_SCALE", "tiny")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # no warnings or library logs in the outputs, and the notebook says which lake it uses
    stderr = [o.get("text", "") for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr, stderr[:3]
    first = "".join(o.get("text", "") for o in nb.cells[1].get("outputs", []))
    assert f"lake: {tmp_path / 'data' / 'lake'}" in first and "generating" in first
    # every code cell ran and the last one produced something to look at
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    assert code[-1].get("outputs"), f"{path.name}: last cell shows nothing"


def test_every_model_family_has_its_notebook():
    """The EDA and routing notebooks sit beside the forecasting, customer and inventory ones."""
    stems = {p.stem for p in NOTEBOOKS}
    assert {"00_orders_eda", "01_order_volume_forecast", "02_customers_rfm_churn_clv",
            "03_routing", "04_inventory"} <= stems
