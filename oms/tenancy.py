"""Tenant ids and the registry naming scheme: one place, used by pipelines, flows and serving.

Scheme: one registered model per model family **and** tenant, named ``<family>__<tenant>``
(for example ``warehouse_router__demo``), each with its own ``@champion`` / ``@challenger``
aliases. A tenant's champion therefore never replaces another tenant's, and anything that
knows a family and a tenant can load ``models:/<family>__<tenant>@champion`` with plain MLflow.
This module imports nothing heavy (no MLflow): the serving layer and the client use it too.
"""

from __future__ import annotations

import re

CHAMPION = "champion"
CHALLENGER = "challenger"
SEPARATOR = "__"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidTenantError(ValueError):
    """A tenant id that is not ``[A-Za-z0-9_-]{1,64}`` (it would be unsafe in paths and names)."""


def validate_tenant(tenant: str) -> str:
    """Return ``tenant`` unchanged if it is a safe tenant id, else raise ``InvalidTenantError``.

    Tenant ids appear in file paths (hive partitions, output folders) and registry names, so
    only letters, digits, ``_`` and ``-`` are allowed, 1 to 64 characters.
    """
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidTenantError(
            f"invalid tenant id {tenant!r}: use 1-64 characters from A-Z a-z 0-9 _ -"
        )
    return tenant


def registered_name(family: str, tenant: str) -> str:
    """Registry name of ``family``'s model for ``tenant``, e.g. ``warehouse_router__demo``."""
    return f"{family}{SEPARATOR}{validate_tenant(tenant)}"


def model_uri(family: str, tenant: str, alias: str = CHAMPION) -> str:
    """``models:/<family>__<tenant>@<alias>`` — the URI that loads a tenant's champion."""
    return f"models:/{registered_name(family, tenant)}@{alias}"


def split_registered_name(name: str) -> tuple[str, str] | None:
    """Inverse of :func:`registered_name`; ``None`` for names outside the scheme."""
    family, sep, tenant = name.rpartition(SEPARATOR)
    if not sep or not family or not TENANT_PATTERN.fullmatch(tenant):
        return None
    return family, tenant
