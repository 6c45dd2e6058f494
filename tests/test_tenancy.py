import pytest

from oms.tenancy import (
    InvalidTenantError,
    model_uri,
    registered_name,
    split_registered_name,
    validate_tenant,
)


@pytest.mark.parametrize("bad", ["", "../../etc/x y", "a/b", "a b", "x" * 65, "é", None, "a.b"])
def test_unsafe_tenant_ids_are_refused(bad):
    with pytest.raises(InvalidTenantError, match="invalid tenant id"):
        validate_tenant(bad)


@pytest.mark.parametrize("good", ["demo", "t2", "A_b-9", "x" * 64])
def test_safe_tenant_ids_pass_unchanged(good):
    assert validate_tenant(good) == good


def test_registry_names_round_trip():
    name = registered_name("warehouse_router", "t-2")
    assert name == "warehouse_router__t-2"
    assert split_registered_name(name) == ("warehouse_router", "t-2")
    assert model_uri("churn_classifier", "demo") == "models:/churn_classifier__demo@champion"
    assert split_registered_name("plain_name") is None
    with pytest.raises(InvalidTenantError):
        registered_name("churn_classifier", "a/b")
