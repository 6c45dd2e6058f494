"""Champion models per tenant and family: load by alias, warm up, poll, hot-swap.

A :class:`ModelStore` holds one slot per (tenant, family). ``refresh()`` asks the registry
which version ``models:/<family>__<tenant>@champion`` points at (names from
``oms.tenancy`` only) and loads every slot whose version changed, then swaps the slot in one
assignment under a lock. On a SQL registry (SQLite, PostgreSQL, ...) the question is one
``SELECT name, version`` on MLflow's alias table for all slots (about 0.1 ms of CPU instead of
1-4 ms per slot through ``get_model_version_by_alias``, which loads the registered model,
the version, its tags and aliases, and holds the GIL while doing it: at a 2 s poll that work
landed on the request path). The reader is checked against the public API on its first use
and replaced by the API for any other store (a tracking server) or any mismatch/error.

Requests read a slot without the lock: they see either the old or
the new model, never a half-loaded one, so a swap fails no request. A failed load keeps the
previous model and records the error (``/readyz``, the reload counter).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from oms.tenancy import CHAMPION, registered_name

log = logging.getLogger(__name__)

ROUTER = "warehouse_router"
CHURN = "churn_classifier"
# the risk families' registered names (as ``pipelines.train_risk.FAMILIES`` registers them)
TRIAGE = "support_triage"
REFUNDS = "refund_approval"
ETA = "delivery_eta"
RISK = (TRIAGE, REFUNDS, ETA)
FAMILIES = (ROUTER, CHURN, *RISK)


@dataclass
class Slot:
    """One loaded model version.

    Attributes:
        tenant: Tenant id.
        family: Model family (``warehouse_router``, ``churn_classifier``).
        name: Registered model name (``<family>__<tenant>``).
        version: Registered version, or ``None`` when nothing is loaded.
        model: The loaded pyfunc.
        fast: For routers: the vectorised :class:`~models.routing.fastpath.FastRouter`.
        fast_path: Whether the fast path matched ``route_frame`` at load (else pyfunc rows).
        error: The last load error, if any.
        loaded_at: Unix time of the load.
    """

    tenant: str
    family: str
    name: str
    version: str | None = None
    model: Any = None
    fast: Any = None
    fast_path: bool | None = None
    error: str | None = None
    loaded_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class UnservableRouter(ValueError):
    """A registered router the service cannot serve (its message says why and what to do)."""


def _load_router(uri: str) -> tuple[Any, Any, bool]:
    """Load a router pyfunc, build its fast path, check parity and warm it up."""
    import mlflow

    from models.routing.fastpath import FastRouter, check_parity

    model = mlflow.pyfunc.load_model(uri)
    adapter = model.unwrap_python_model()
    if getattr(adapter.config, "extended_obs", False):
        # a hard scenario's router needs state the route request does not carry
        raise UnservableRouter(
            f"{uri} is a {adapter.config.scenario!r}-scenario router: it reads the extended "
            "observation (SKU, day, backlog, every SKU's stock), which /v1/route requests do "
            "not carry; the service serves only 'easy' routers (warehouse_router__<tenant>). "
            "Use its pyfunc (models.routing.rows_extended rows) outside the service.")
    fast = FastRouter(adapter._router, adapter.network, adapter.config)
    ok = check_parity(fast)  # also the warm-up: every code path runs once
    if not ok:
        log.warning("fast routing path disagrees with route_frame for %s; serving rows", uri)
    return model, fast, ok


def _load_churn(uri: str) -> tuple[Any, Any, bool]:
    """Load a churn pyfunc (its input names come from the logged signature)."""
    import mlflow

    model = mlflow.pyfunc.load_model(uri)
    return model, None, False


def _load_risk(uri: str) -> tuple[Any, Any, bool]:
    """Load a risk pyfunc (``models.risk.pyfunc.RiskDecisionModel``); ``fast`` is its estimator.

    Requests call the estimator's ``decide``/``predict`` on a frame built from the request,
    as the pyfunc's own ``predict`` does, without a second schema pass.
    """
    import mlflow

    model = mlflow.pyfunc.load_model(uri)
    return model, model.unwrap_python_model().estimator, False


LOADERS = {ROUTER: _load_router, CHURN: _load_churn, TRIAGE: _load_risk, REFUNDS: _load_risk,
           ETA: _load_risk}


class ModelStore:
    """Champion slots for every tenant × family, refreshed from the registry.

    Args:
        tracking_uri: MLflow tracking/registry URI.
        tenants: Tenants to serve.
        families: Model families to load.
    """

    def __init__(self, tracking_uri: str, tenants: list[str],
                 families: tuple[str, ...] = FAMILIES) -> None:
        self.tracking_uri = tracking_uri
        self.slots: dict[tuple[str, str], Slot] = {
            (t, f): Slot(t, f, registered_name(f, t)) for t in tenants for f in families}
        self._lock = threading.Lock()
        self._mlflow: Any = None
        self._read_aliases: Any = None  # one-query alias reader, False = use the public API
        self.reloads = 0
        self.on_reload: Any = None  # callback(slot, outcome) for metrics
        self.loader: Any = None  # serving.loader.LoaderProcess: routers load out of process

    def _client(self) -> Any:
        """One registry client for the store's life (no new DB engine per poll)."""
        if self._mlflow is None:
            import mlflow
            from mlflow import MlflowClient

            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            self._mlflow = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.tracking_uri)
        return self._mlflow

    def champion_version(self, client: Any, name: str) -> str | None:
        """Version the champion alias points at, ``None`` if the alias or model is missing."""
        from mlflow.exceptions import MlflowException

        try:
            return str(client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            return None

    def champion_versions(self) -> dict[str, str | None]:
        """``name -> version`` the champion alias of every slot points at (``None``: none)."""
        client = self._client()
        names = sorted({slot.name for slot in self.slots.values()})
        if self._read_aliases is None:
            self._read_aliases = _sql_alias_reader(client, names) or False
            if self._read_aliases:
                api = {n: self.champion_version(client, n) for n in names}
                if self._fast_versions(names) != api:  # never trust it blindly
                    log.warning("alias table read disagrees with the registry API; using the API")
                    self._read_aliases = False
                return api
        if self._read_aliases:
            found = self._fast_versions(names)
            if found is not None:
                return found
        return {n: self.champion_version(client, n) for n in names}

    def _fast_versions(self, names: list[str]) -> dict[str, str | None] | None:
        try:
            rows = self._read_aliases()
        except Exception as e:  # noqa: BLE001 — the public API is the fallback
            log.warning("alias table read failed (%s); using the registry API",
                        type(e).__name__)
            self._read_aliases = False
            return None
        return {n: rows.get(n) for n in names}

    def refresh(self, force: bool = False) -> list[str]:
        """Reload every slot whose champion moved (all of them with ``force``).

        Returns:
            ``"<name>: <old> -> <new>"`` for each swap made.
        """
        with self._lock:  # one refresh at a time; readers never take this lock
            versions = self.champion_versions()
            changes = []
            for key, slot in list(self.slots.items()):
                want = versions[slot.name]
                if want is None:
                    if slot.version is None:
                        self.slots[key] = _with_error(slot, f"no {CHAMPION} alias on {slot.name}")
                    continue
                if want == slot.version and not force:
                    continue
                changes += self._swap(key, slot, want)
            return changes

    def _load(self, family: str, uri: str) -> tuple[Any, Any, bool]:
        """Load ``uri``: a router through the loader process if there is one, else here.

        Through the loader process the serving process only unpickles the fast path.
        """
        if family == ROUTER and self.loader is not None:
            fast = self.loader.load_router(uri)
            if fast is not None:
                from serving.loader import LoadedElsewhere

                return LoadedElsewhere(uri), fast, True
        return LOADERS[family](uri)

    def _swap(self, key: tuple[str, str], slot: Slot, version: str) -> list[str]:
        uri = f"models:/{slot.name}/{version}"
        try:
            model, fast, ok = self._load(slot.family, uri)
        except Exception as e:  # noqa: BLE001 — any load failure keeps the previous model
            log.warning("loading %s failed: %s", uri, e)
            why = f": {e}" if isinstance(e, UnservableRouter) else ""
            self.slots[key] = _with_error(slot, f"loading version {version} failed: "
                                                f"{type(e).__name__}{why}")
            self._count(self.slots[key], "error")
            return []
        new = Slot(slot.tenant, slot.family, slot.name, version, model, fast, ok,
                   None, time.time())
        self.slots[key] = new  # the swap: one reference assignment
        self.reloads += 1
        self._count(new, "ok")
        return [f"{slot.name}: {slot.version} -> {version}"]

    def _count(self, slot: Slot, outcome: str) -> None:
        if self.on_reload is not None:
            self.on_reload(slot, outcome)

    def get(self, tenant: str, family: str) -> Slot | None:
        """The loaded slot, or ``None`` when no version of it is loaded."""
        slot = self.slots.get((tenant, family))
        return slot if slot is not None and slot.model is not None else None


def _sql_alias_reader(client: Any, names: list[str]) -> Any:
    """A one-``SELECT`` reader of the champion aliases of ``names`` on a SQL registry.

    The reader returns ``{name: version}``; ``None`` when the registry is not a SQL store.
    Uses MLflow's own engine and ORM table (``registered_model_aliases``, scoped to the
    store's workspace as its ``_get_query`` does), so it reads what the API reads.
    """
    try:
        import sqlalchemy as sa
        from mlflow.store.model_registry.dbmodels.models import SqlRegisteredModelAlias as A
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

        store = client._get_registry_client().store
        if not isinstance(store, SqlAlchemyStore):
            return None
        stmt = sa.select(A.name, A.version).where(
            A.workspace == store._get_active_workspace(), A.alias == CHAMPION,
            A.name.in_(names))
        engine = store.engine
    except Exception as e:  # noqa: BLE001 — an MLflow without these internals: use the API
        log.info("no direct alias reader (%s); polling through the registry API",
                 type(e).__name__)
        return None

    def read() -> dict[str, str]:
        with engine.connect() as conn:
            return {name: str(version) for name, version in conn.execute(stmt)}

    return read


def _with_error(slot: Slot, error: str) -> Slot:
    return Slot(slot.tenant, slot.family, slot.name, slot.version, slot.model, slot.fast,
                slot.fast_path, error, slot.loaded_at)
