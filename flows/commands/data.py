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
