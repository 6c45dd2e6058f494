"""CLI command ``oms-ml serve``: the HTTP service for routing, forecasts and churn."""

from __future__ import annotations

import typer

from flows.apps import app


@app.command("serve")
def serve_command(
    host: str = typer.Option(None, help="Interface (default: settings, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: settings, 8080)."),
    poll_seconds: float = typer.Option(
        None, help="Seconds between champion alias polls (default 30; 0 = only on "
                   "POST /admin/reload)."),
    torch_threads: int = typer.Option(1, help="Torch intra-op threads (1 is fastest for "
                                              "one-order requests)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve every tenant's champions over HTTP (one uvicorn worker).

    API keys come from OMS_ML_SERVING_API_KEYS ('{"<tenant>": "<key>"}') and the admin key
    from OMS_ML_SERVING_ADMIN_KEY; the registry from MLFLOW_TRACKING_URI or the settings.
    """
    import os

    os.environ.setdefault("DO_NOT_TRACK", "1")
    import torch
    import uvicorn

    from oms.settings import get_settings
    from serving.app import create_app

    torch.set_num_threads(max(1, torch_threads))
    s = get_settings()
    try:
        application = create_app(s, poll_seconds=poll_seconds)
    except ValueError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        raise typer.Exit(code=2) from None
    typer.echo(f"oms-ml serve: tenants {sorted(s.serving_api_keys)} on "
               f"http://{host or s.serving_host}:{port or s.serving_port}")
    uvicorn.run(application, host=host or s.serving_host, port=port or s.serving_port,
                log_level=log_level, access_log=False, workers=1)
