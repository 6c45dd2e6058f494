"""One typed settings object for the whole project.

Every value can be overridden by an environment variable ``OMS_ML_<NAME>`` (for example
``OMS_ML_SPARK_MASTER=spark://host:7077``); switching from the embedded defaults to real
engines is configuration, never a code change.

The default data folder is the project's ``data/`` (the folder holding ``pyproject.toml``,
found from the working directory upwards), so the CLI, notebooks started from
``notebooks/`` and scripts all use the same lake and MLflow store; outside a checkout it is
``./data``. ``OMS_ML_DATA_DIR`` overrides it (relative values are taken from the working
directory).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_NAME = "oms-ml"


def project_root(start: Path | None = None) -> Path | None:
    """The oms-ml checkout containing ``start`` (default: the working directory), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        marker = folder / "pyproject.toml"
        if marker.is_file() and f'name = "{PROJECT_NAME}"' in marker.read_text(errors="ignore"):
            return folder
    return None


def default_data_dir() -> Path:
    """``<project root>/data`` inside a checkout, else ``./data`` (absolute either way)."""
    root = project_root()
    return (root / "data") if root is not None else Path.cwd().resolve() / "data"


class Settings(BaseSettings):
    """Project settings, read from ``OMS_ML_*`` environment variables.

    Attributes:
        data_dir: Root folder for local data (lake, quarantine, MLflow store, outputs).
        lake_uri: Where validated tables live (a folder or any pyarrow/fsspec URI).
        landing_uri: Where raw exports land before ingest (generator and importers write here).
        quarantine_uri: Where rows that break the contract go, with a reason per row.
        output_uri: Where batch jobs write forecasts, scores and reports.
        mlflow_tracking_uri: MLflow tracking/registry URI; ``MLFLOW_TRACKING_URI`` wins if set.
        mlflow_artifact_root: Where run artifacts go for a local (SQLite) store; default
            ``<data_dir>/mlartifacts`` beside the store, never ``./mlruns``.
        tracking_timeout: Seconds to wait for a remote tracking server before giving up.
        spark_master: Spark master: ``local[*]``, ``spark://...`` or Spark Connect ``sc://...``.
        spark_conf: Extra Spark properties applied last, e.g.
            ``OMS_ML_SPARK_CONF='{"spark.executor.memory": "4g"}'``.
        tenant_id: Default tenant for single-tenant commands.
        timezone: Business time zone used to assign orders to calendar days.
        torch_threads: Intra-op threads for small torch models on CPU.
        n_jobs: Worker processes for per-series training on one machine.
        keep_versions: Snapshots a versioned lake root keeps (older ones are deleted).
        lock_timeout: Seconds a run waits for a lake's lock before failing.
        future_days: Business dates may run this many days past today (later: quarantined).
    """

    model_config = SettingsConfigDict(env_prefix="OMS_ML_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    lake_uri: str | None = None
    landing_uri: str | None = None
    quarantine_uri: str | None = None
    output_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: str | None = None
    tracking_timeout: float = 5.0
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict)
    tenant_id: str = "demo"
    timezone: str = "Asia/Shanghai"
    torch_threads: int = 2
    n_jobs: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1))
    keep_versions: int = Field(default=3, ge=1)
    lock_timeout: float = Field(default=300.0, ge=0)
    future_days: int = Field(default=1, ge=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v if v.is_absolute() else (Path.cwd() / v).resolve()

    # --- serving (``oms-ml serve``): keys are secrets, set them through the environment, e.g.
    # OMS_ML_SERVING_API_KEYS='{"demo": "<key>"}' OMS_ML_SERVING_ADMIN_KEY='<key>'
    serving_api_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    serving_admin_key: str | None = Field(default=None, repr=False)
    serving_host: str = "127.0.0.1"
    serving_port: int = 8080
    serving_poll_seconds: float = 30.0
    serving_max_body_bytes: int = 1_000_000
    serving_max_batch_body_bytes: int = 64_000_000
    serving_max_batch_orders: int = 10_000
    serving_max_reroute_orders: int = 200_000

    @property
    def lake(self) -> str:
        """URI of the validated lake."""
        return self.lake_uri or str(self.data_dir / "lake")

    @property
    def landing(self) -> str:
        """URI of the landing zone for raw exports."""
        return self.landing_uri or str(self.data_dir / "landing")

    @property
    def quarantine(self) -> str:
        """URI of the quarantine zone."""
        return self.quarantine_uri or str(self.data_dir / "quarantine")

    @property
    def outputs(self) -> str:
        """URI of batch outputs (forecasts, scores, reports)."""
        return self.output_uri or str(self.data_dir / "outputs")

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: env ``MLFLOW_TRACKING_URI``, then settings, then local SQLite."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> str:
        """Artifact root for experiments of a local store: ``<data_dir>/mlartifacts``."""
        return self.mlflow_artifact_root or str((self.data_dir / "mlartifacts").resolve())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
