"""What ``oms-ml flows serve`` registers, checked without a server (fast)."""

from __future__ import annotations

import datetime as dt

import pytest

from flows import deploy
from oms.tenancy import InvalidTenantError


def test_plan_has_two_deployments_per_tenant_in_its_time_zone():
    plan = deploy.planned_schedules(["demo", "acme"], timezone="Asia/Shanghai",
                                    timezones={"acme": "Europe/Berlin"})
    assert [(s.deployment, s.cron, s.timezone) for s in plan] == [
        ("daily-batch/demo", "0 2 * * *", "Asia/Shanghai"),
        ("weekly-retrain/demo", "0 3 * * 0", "Asia/Shanghai"),
        ("daily-batch/acme", "0 2 * * *", "Europe/Berlin"),
        ("weekly-retrain/acme", "0 3 * * 0", "Europe/Berlin"),
    ]
    for s in plan:
        when = dt.datetime.fromisoformat(s.next_run)
        assert when > dt.datetime.now(dt.UTC)
        assert when.hour == (2 if s.job == "daily_batch" else 3) and when.minute == 0
        assert s.job == "daily_batch" or when.weekday() == 6  # Sunday
    assert plan[0].next_run.endswith("+08:00")


@pytest.mark.parametrize("tenants,kwargs,error", [
    (["../etc"], {}, InvalidTenantError),
    (["a b"], {}, InvalidTenantError),
    ([], {}, ValueError),
    (["demo", "demo"], {}, ValueError),
    (["demo"], {"daily_cron": "every day"}, ValueError),
    (["demo"], {"timezone": "Mars/Olympus"}, ValueError),
])
def test_bad_plans_are_refused(tenants, kwargs, error):
    with pytest.raises(error):
        deploy.planned_schedules(tenants, **kwargs)


def test_deployments_use_module_entrypoints_and_tenant_parameters():
    deps = deploy.build_deployments(["demo"], timezone="UTC")
    assert [d.entrypoint for d in deps] == ["flows.daily.daily_batch_flow",
                                            "flows.retrain.weekly_retrain_flow"]
    for d in deps:
        assert d.name == "demo" and d.parameters == {"tenant": "demo"}
        assert {"oms-ml", "tenant:demo"} <= set(d.tags)
        (sched,) = d.schedules
        assert sched.schedule.timezone == "UTC" and sched.active


def test_serving_without_a_reachable_api_is_a_clear_error():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: None}), pytest.raises(deploy.PrefectApiError,
                                                                    match="prefect server"):
        deploy.api_url()
    port = deploy.free_port()  # nothing listens there
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}), \
            pytest.raises(deploy.PrefectApiError, match="does not answer"):
        deploy.list_schedules()
