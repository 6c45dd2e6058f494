"""Assemble BENCHMARKS.md from the markdown each bench script writes to bench/results/.

Usage: ``python bench/assemble.py``. No number is typed here: every section is the output of
the script named in it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["flows", "features", "generate", "ingest_append", "reliability", "reliability_tenant",
         "cli_startup", "forecast_accuracy", "forecast_peers_cal3_all",
         "forecast_peers_generated", "forecast_speed", "forecast_volume", "churn", "clv", "routing",
         "routing_regression", "routing_regression_dqn", "inventory", "risk", "monitor",
         "serve", "serve_handler"]

HEADER = """# Benchmarks

Every number below was written by the `bench/` script named in its section (the command is
given there), on this project's machine: 2 CPU cores, 24 GiB RAM, no GPU. Several sections
note the load average at run time: the machine was shared with other work while some ran,
so timings are conservative. Regenerate this file with `python bench/assemble.py` after
re-running the scripts.
"""


def _nest(text: str) -> str:
    """Put a result file's headings one level below the page title, whatever level it used."""
    if not text.startswith("# "):
        return text
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def main() -> None:
    """Concatenate the result files in a stable order into BENCHMARKS.md (atomically)."""
    results = ROOT / "bench" / "results"
    files = sorted(results.glob("*.md"), key=lambda p: (
        ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    parts = [HEADER]
    for f in files:
        parts.append(_nest(f.read_text().strip()) + "\n")
    out = ROOT / "BENCHMARKS.md"
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(out)
    print(f"wrote {out} from {len(files)} result file(s)")


if __name__ == "__main__":
    main()
