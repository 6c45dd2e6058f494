"""Models page data: every registered model, its ``@champion``, promotion time, gate metric.

Read from the MLflow registry, never written.

The gate (``pipelines.registry.promote_if_better``) tags each candidate version with ``gate``
(its reason) and ``gate_<metric>`` (its value) and moves the alias as the version is
registered, so a champion's promotion time is its version's registration time unless the
version carries a ``promoted_at`` tag.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import NoData, Sources
from oms.tenancy import CHALLENGER, CHAMPION, split_registered_name

COLUMNS = ["model", "family", "tenant", "champion", "challenger", "versions", "promoted_at",
           "gate_metric", "gate_value", "gate"]


def client(src: Sources):
    """A read-only MLflow client of the store (``NoData`` when there is none yet)."""
    from mlflow import MlflowClient

    from oms.tracking import NoStoreError, TrackingStoreError, check_store

    try:
        check_store(src.tracking_uri, read_only=True)
    except NoStoreError as e:
        raise NoData("No model has been trained yet: the MLflow registry "
                     f"({src.tracking_uri}) does not exist.") from e
    except TrackingStoreError as e:
        raise NoData(f"The MLflow registry cannot be read: {e}") from e
    return MlflowClient(tracking_uri=src.tracking_uri, registry_uri=src.tracking_uri)


def _version_row(c, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _gate(mv) -> tuple[str | None, float | None, str | None]:
    tags = dict(mv.tags or {}) if mv is not None else {}
    for k, v in tags.items():
        if k.startswith("gate_"):
            return k.removeprefix("gate_"), float(v), tags.get("gate")
    return None, None, tags.get("gate")


def registered_models(src: Sources, tenant: str | None = None) -> pd.DataFrame:
    """One row per registered model (of ``tenant`` if given), champion first.

    Raises:
        NoData: No store, or no registered model (for that tenant).
    """
    c = client(src)
    rows = []
    for rm in c.search_registered_models():
        parts = split_registered_name(rm.name)
        family, owner = parts if parts else (rm.name, "")
        if tenant is not None and owner != tenant:
            continue
        champ = _version_row(c, rm.name, CHAMPION)
        chall = _version_row(c, rm.name, CHALLENGER)
        metric, value, reason = _gate(champ)
        stamp = None
        if champ is not None:
            stamp = (champ.tags or {}).get("promoted_at") or pd.Timestamp(
                champ.creation_timestamp, unit="ms", tz="UTC").isoformat(timespec="seconds")
        rows.append({"model": rm.name, "family": family, "tenant": owner,
                     "champion": f"v{champ.version}" if champ else "none yet",
                     "challenger": f"v{chall.version}" if chall else "",
                     "versions": len(c.search_model_versions(f"name='{rm.name}'")),
                     "promoted_at": stamp, "gate_metric": metric, "gate_value": value,
                     "gate": reason})
    if not rows:
        who = f" for tenant {tenant!r}" if tenant else ""
        raise NoData(f"No model is registered{who} yet: train one (oms-ml train ...).")
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["tenant", "family"],
                                                           ignore_index=True)


def versions(src: Sources, tenant: str) -> pd.DataFrame:
    """Every version of the tenant's models: ``model, version, registered_at, role, gate``.

    ``role`` is ``champion``, ``challenger`` or ``retired`` (holds no alias any more).
    """
    c = client(src)
    rows = []
    for rm in c.search_registered_models():
        parts = split_registered_name(rm.name)
        if not parts or parts[1] != tenant:
            continue
        aliases = {str(v): k for k, v in (rm.aliases or {}).items()}
        for mv in c.search_model_versions(f"name='{rm.name}'"):
            rows.append({"model": rm.name, "version": int(mv.version),
                         "registered_at": pd.Timestamp(mv.creation_timestamp, unit="ms",
                                                       tz="UTC"),
                         "role": aliases.get(str(mv.version), "retired"),
                         "gate": (mv.tags or {}).get("gate", "")})
    if not rows:
        raise NoData(f"No model is registered for tenant {tenant!r} yet: train one "
                     "(oms-ml train ...).")
    return pd.DataFrame(rows).sort_values(["model", "version"], ignore_index=True)


def champion_run_artifact(src: Sources, name: str, path: str) -> str:
    """Local copy of an artifact of the champion version's run.

    Raises:
        NoData: No champion, or the run has no such artifact.
    """
    from mlflow.exceptions import MlflowException

    c = client(src)
    champ = _version_row(c, name, CHAMPION)
    if champ is None:
        raise NoData(f"{name} has no champion yet: nothing has passed the gate.")
    try:
        return c.download_artifacts(champ.run_id, path)
    except (MlflowException, OSError) as e:
        raise NoData(f"The champion's run of {name} has no {path}.") from e
