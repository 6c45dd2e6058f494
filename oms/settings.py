"""One typed settings object for the whole project.

Every value can be overridden by an environment variable ``OMS_ML_<NAME>`` (for example
``OMS_ML_SPARK_MASTER=spark://host:7077``); switching from the embedded defaults to real
engines is configuration, never a code change.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Project settings, read from ``OMS_ML_*`` environment variables.

    Attributes:
        data_dir: Root folder for local data (lake, quarantine, MLflow store, outputs).
        lake_uri: Where validated tables live (a folder or any pyarrow/fsspec URI).
        landing_uri: Where raw exports land before ingest (generator and importers write here).
        quarantine_uri: Where rows that break the contract go, with a reason per row.
        output_uri: Where batch jobs write forecasts, scores and reports.
        mlflow_tracking_uri: MLflow tracking/registry URI; ``MLFLOW_TRACKING_URI`` wins if set.
        spark_master: Spark master: ``local[*]``, ``spark://...`` or Spark Connect ``sc://...``.
        tenant_id: Default tenant for single-tenant commands.
        timezone: Business time zone used to assign orders to calendar days.
        torch_threads: Intra-op threads for small torch models on CPU.
        n_jobs: Worker processes for per-series training on one machine.
    """

    model_config = SettingsConfigDict(env_prefix="OMS_ML_", extra="ignore")

    data_dir: Path = Field(default=Path("data"))
    lake_uri: str | None = None
    landing_uri: str | None = None
    quarantine_uri: str | None = None
    output_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    spark_master: str = "local[*]"
    tenant_id: str = "demo"
    timezone: str = "Asia/Shanghai"
    torch_threads: int = 2
    n_jobs: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1))

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
