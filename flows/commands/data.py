"""CLI commands for data: contract docs (generate, import and ingest are added here too)."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.apps import contract_app


@contract_app.command("docs")
def contract_docs(
    out: Path = typer.Option(Path("docs/contract.md"), help="Where to write the markdown."),
) -> None:
    """Write the markdown reference of the data contract."""
    from oms.contract import contract_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(contract_markdown() + "\n")
    tmp.replace(out)
    typer.echo(f"wrote {out}")


def print_demo_summary(console, summary: dict) -> None:
    """Print what each demo step produced and where."""
    import json

    from rich.table import Table

    from oms.settings import get_settings

    for step, result in summary.items():
        console.rule(f"[bold]{step}")
        if step == "ingest" and isinstance(result, dict) and "tables" in result:
            console.print(_ingest_table(result["tables"]))
            continue
        console.print_json(json.dumps(result, default=str))
    console.rule("[bold]produced")
    table = Table("dataset", "rows", "where")
    for name, rows, where in produced_datasets(get_settings().data_dir):
        table.add_row(name, f"{rows:,}", where)
    console.print(table)
    console.print(f"MLflow UI: mlflow ui --backend-store-uri {get_settings().tracking_uri}")


def _ingest_table(tables: dict):
    """Rows in / valid / quarantined per table, with the commonest reasons."""
    from rich.table import Table

    t = Table("table", "rows in", "valid", "quarantined", "top reasons")
    for name, r in tables.items():
        reasons = sorted(r.get("reasons", {}).items(), key=lambda kv: -kv[1])[:3]
        t.add_row(name, f"{r['rows_in']:,}", f"{r['rows_valid']:,}",
                  f"{r['rows_quarantined']:,}", "; ".join(f"{k} ({v})" for k, v in reasons))
    return t


def produced_datasets(data_dir: Path) -> list[tuple[str, int, str]]:
    """List parquet datasets under the data folder with their row counts (from footers)."""
    import pyarrow.parquet as pq

    out = []
    for zone in ("landing", "lake", "quarantine", "outputs"):
        root = Path(data_dir) / zone
        if not root.is_dir():
            continue
        for files in _datasets(root):
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files[1])
            out.append((f"{zone}/{files[0].relative_to(root)}", rows, str(files[0].resolve())))
    return out


def _datasets(root: Path) -> list[tuple[Path, list[Path]]]:
    """Group parquet files by dataset folder (the folder above any hive partition folders)."""
    groups: dict[Path, list[Path]] = {}
    for f in sorted(root.rglob("*.parquet")):
        if any(part.startswith(".") for part in f.relative_to(root).parts):
            continue
        d = f.parent
        while "=" in d.name:
            d = d.parent
        groups.setdefault(d, []).append(f)
    return sorted(groups.items())
