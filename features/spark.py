"""Spark session factory: ``local[*]`` by default, a cluster or Spark Connect by configuration.

``OMS_ML_SPARK_MASTER`` picks the engine (``local[*]``, ``spark://host:7077``,
``sc://host:15002``); ``OMS_ML_SPARK_CONF`` (a JSON object) adds or overrides Spark
properties, e.g. ``{"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": "64"}``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from oms.settings import get_settings


class JavaMissingError(RuntimeError):
    """Java 17 or 21 is needed for Spark and was not found."""


def check_java() -> str:
    """Return the Java version string, or raise with an install hint if Java 17/21 is missing."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java:
        raise JavaMissingError(
            "Spark needs Java 17 or 21 and no `java` was found. Install it, e.g. "
            "`sudo apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    first = out.splitlines()[0] if out else ""
    if not any(f'"{v}' in first or f" {v}." in first for v in ("17", "21")):
        raise JavaMissingError(f"Spark 4 needs Java 17 or 21; found: {first}")
    return first


def get_spark(master: str | None = None, app_name: str = "oms-ml", shuffle_partitions: int = 8):
    """Create (or reuse) a SparkSession.

    Args:
        master: ``local[*]``, ``spark://host:port`` or Spark Connect ``sc://host``;
            defaults to the ``OMS_ML_SPARK_MASTER`` setting.
        app_name: Application name shown in the Spark UI.
        shuffle_partitions: ``spark.sql.shuffle.partitions`` (small for one machine).

    Returns:
        A SparkSession.
    """
    from pyspark.sql import SparkSession

    settings = get_settings()
    master = master or settings.spark_master
    if master.startswith("sc://"):
        builder = (SparkSession.builder.remote(master).appName(app_name)
                   .config("spark.sql.session.timeZone", "UTC"))
        for key, value in settings.spark_conf.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    check_java()
    # Python workers must run this interpreter (the venv), not whatever `python3` is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("OMS_ML_SPARK_DRIVER_MEMORY", "4g"))
    )
    for key, value in settings.spark_conf.items():  # OMS_ML_SPARK_CONF wins
        builder = builder.config(key, value)
    return builder.getOrCreate()
