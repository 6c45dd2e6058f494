"""The Typer apps of the ``oms-ml`` CLI, plus what every command shares.

Command modules register their commands on these apps and take their common options from
here (``lake_option``, ``out_option``, ``tenant_option``), so each option is written once
and reads the same everywhere. ``guard()`` turns the errors a person can act on (bad input,
missing data, no champion, an unusable MLflow store) into one red line and exit code 1;
invalid option values exit with 2 (Typer's usage error). This module imports nothing heavy:
``oms-ml --help`` must start fast.

Help texts are plain text (``rich_markup_mode=None``) so ``[settings]`` in a help string is
printed, not swallowed as markup.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

_APP = dict(no_args_is_help=True, rich_markup_mode=None)

app = typer.Typer(
    name="oms-ml",
    help="oms-ml: forecasting, churn and routing for an order management system.",
    pretty_exceptions_show_locals=False,
    **_APP,
)
import_app = typer.Typer(help="Import real order exports onto the data contract.", **_APP)
train_app = typer.Typer(help="Train, backtest, register and gate models.", **_APP)
score_app = typer.Typer(help="Batch-score with registered champions.", **_APP)
contract_app = typer.Typer(help="Inspect the order data contract.", **_APP)
route_app = typer.Typer(help="Warehouse routing and outage rerouting.", **_APP)

app.add_typer(import_app, name="import")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
app.add_typer(contract_app, name="contract")
app.add_typer(route_app, name="route")


def fail(error: BaseException | str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` in red on stderr and exit with ``code``."""
    message = error if isinstance(error, str) else (
        error.args[0] if isinstance(error, KeyError) and error.args else str(error))
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code=code)


def _clean_errors() -> tuple[type[BaseException], ...]:
    """Error types that deserve one line, not a traceback (only from modules already loaded)."""
    errors: list[type[BaseException]] = [ValueError, LookupError, FileNotFoundError]
    for module, name in (("oms.lake", "LakeError"), ("oms.tracking", "TrackingStoreError"),
                         ("oms.validate", "ContractError"),
                         ("mlflow.exceptions", "MlflowException")):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, name):
            errors.append(getattr(loaded, name))
    return tuple(errors)


@contextmanager
def guard() -> Iterator[None]:
    """Run a command body; errors a person can act on end as one line with exit code 1."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except Exception as e:  # noqa: BLE001 - filtered right below
        if isinstance(e, _clean_errors()):
            fail(e)
        raise


def _check_tenant(value: str | None) -> str | None:
    if value is None:
        return None
    from oms.tenancy import InvalidTenantError, validate_tenant

    try:
        return validate_tenant(value)
    except InvalidTenantError as e:
        raise typer.BadParameter(str(e)) from None


def _positive(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}")
    return value


def tenant_option(help_text: str = "Tenant id [settings: tenant_id].") -> Any:
    """``--tenant``: validated (``[A-Za-z0-9_-]{1,64}``); default: the settings' tenant."""
    return typer.Option(None, "--tenant", help=help_text, callback=_check_tenant)


def lake_option() -> Any:
    """``--lake``: the validated lake's root."""
    return typer.Option(None, "--lake", help="Lake root [settings: lake].")


def out_option() -> Any:
    """``--out``: always the output *root*; each job writes ``<root>/<kind>/<tenant>/``."""
    return typer.Option(None, "--out", help="Output root; files go to <root>/<kind>/<tenant>/ "
                        "[settings: outputs].")


def positive_option(default: int | None, help_text: str) -> Any:
    """An integer option that must be >= 1 (a usage error otherwise)."""
    return typer.Option(default, help=help_text, callback=_positive)
