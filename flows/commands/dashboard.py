"""CLI command ``oms-ml dashboard``: the operations dashboard in the browser (Streamlit)."""

from __future__ import annotations

import typer

from flows.apps import app, lake_option, out_option, tenant_option


@app.command("dashboard")
def dashboard_command(
    tenant: str = tenant_option("Tenant shown first [settings: tenant_id]."),
    port: int = typer.Option(8501, help="Port of the dashboard."),
    address: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    lake: str = lake_option(),
    out: str = out_option(),
) -> None:
    """Open the dashboard: operations, forecasts, customers, routing, models, monitoring.

    Reads the lake, the batch outputs and the MLflow registry; works offline (no CDN, no
    telemetry). Stop it with Ctrl-C.
    """
    import socket

    from dashboard.server import start

    with socket.socket() as probe:  # a clear line instead of the server's own failure
        try:
            probe.bind((address, port))
        except OSError as e:
            typer.secho(f"error: cannot listen on {address}:{port}: {e.strerror or e}",
                        err=True, fg="red")
            raise typer.Exit(code=1) from None
    typer.echo(f"oms-ml dashboard on http://{address}:{port} (Ctrl-C stops it)")
    proc = start(port, tenant, lake, out, address)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    raise typer.Exit(code=0 if code in (0, -15) else code)
