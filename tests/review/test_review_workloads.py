"""The review diff of workloads: effective resources, probes, security context, budget and
autoscaling, defaults included; a relaxed security context is a risk."""

from __future__ import annotations

from typing import Any

import yaml

from meshc.compiler.index import MeshIndex
from meshc.compiler.pipeline import run
from meshc.compiler.review.intent import CATEGORIES, RISKS, IntentDiff, diff_intent, plain
from meshc.compiler.review.view import MeshView, build_view
from meshc.compiler.review.workloads import WorkloadChange, WorkloadView, workload_changes
from meshc.spec.loader import load_sources
from meshc.spec.models import Mesh


def workload_view(spec: dict[str, Any], service: str = "api") -> WorkloadView | None:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    index = MeshIndex(Mesh.model_validate(yaml.safe_load(yaml.safe_dump(doc))))
    return WorkloadView.of(index, index.services[service])


def api(workload: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": "api",
        "ports": [{"port": 80, "protocol": "http"}],
        "versions": [{"name": "v1", "image": "api:1", "replicas": 2}],
    }
    if workload is not None:
        svc["workload"] = workload
    return {"services": [svc], **extra}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[WorkloadChange]:
    return list(workload_changes("api", workload_view(before), workload_view(after)))


def test_no_change_no_report():
    assert changes(api(), api()) == []
    # Saying a default explicitly is no change in effect.
    assert changes(api(), api({"resources": {"cpu": "100m", "memory": "128Mi"}})) == []


def test_each_section_is_named_in_the_spec_terms():
    after = api(
        {
            "resources": {"memory": "1Gi"},
            "probes": {"liveness": {"port": 80, "path": "/livez"}},
            "disruptionBudget": {"minAvailable": 1},
            "autoscaling": {"maxReplicas": 6},
        }
    )
    found = {c.kind: c.message for c in changes(api(), after)}
    assert found == {
        "workload-resources": "`api` resources: cpu 100m, memory 128Mi, memoryLimit 128Mi → "
        "cpu 100m, memory 1Gi, memoryLimit 1Gi",
        "workload-probe": "`api` liveness probe: none → HTTP GET :80/livez every 10s, timeout 2s, 3 failures",
        "workload-budget": "`api` disruption budget: maxUnavailable 1 (from 2 replicas) → minAvailable 1",
        "workload-autoscaling": "`api` autoscaling: off → 2-6 replicas at CPU 70%",
    }


def test_mesh_defaults_reach_the_services_they_apply_to():
    after = api(None, defaults={"workload": {"resources": {"cpu": "250m"}}})
    (change,) = changes(api(), after)
    assert change.kind == "workload-resources" and "cpu 250m" in change.message


def test_relaxed_security_context_is_a_risk_and_tightening_is_not():
    strict = api({"securityContext": {"readOnlyRootFilesystem": True}})
    loose = api({"securityContext": {"runAsNonRoot": False}})
    (relaxed,) = changes(strict, loose)
    assert relaxed.kind == "workload-security"
    assert (
        relaxed.risk
        == "`api`'s pods may now run as root (runAsNonRoot: false) and may now write to their root filesystem"
    )
    (tightened,) = changes(loose, strict)
    assert tightened.risk is None


def test_services_without_deployments_have_no_workload_view():
    spec = {"services": [{"name": "api", "ports": [{"port": 80, "protocol": "http"}]}]}
    assert workload_view(spec) is None
    assert list(workload_changes("api", None, workload_view(api()))) == []


# --- through `meshc diff`'s intent diff -------------------------------------------------------------


def intent(before: dict[str, Any], after: dict[str, Any]) -> IntentDiff:
    def view(spec: dict[str, Any]) -> MeshView:
        doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
        c = run("mesh.yaml", loaded=load_sources([("mesh.yaml", yaml.safe_dump(doc).encode())]))
        assert c.index is not None
        return build_view(c.index)

    return diff_intent(view(before), view(after))


def two_services(
    defaults: dict[str, Any] | None = None, api_workload: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = api(api_workload)
    spec["services"].append(
        {
            "name": "web",
            "ports": [{"port": 80, "protocol": "http"}],
            "versions": [{"name": "v1", "image": "web:1"}],
            "calls": [{"service": "api"}],
        }
    )
    if defaults is not None:
        spec["defaults"] = {"workload": defaults}
    return spec


def test_the_review_reports_workload_changes_under_workloads():
    d = intent(two_services(), two_services(api_workload={"autoscaling": {"maxReplicas": 6}}))
    assert [(c.category, c.kind, c.subject, plain(c.message)) for c in d.changes] == [
        ("workload", "workload-autoscaling", "api", "api autoscaling: off → 2-6 replicas at CPU 70%")
    ]
    assert CATEGORIES["workload"] == "Workloads" and d.risks == []


def test_a_default_change_is_reported_once_and_a_relaxed_one_is_a_risk():
    before = two_services({"securityContext": {"readOnlyRootFilesystem": True}})
    after = two_services({"securityContext": {"readOnlyRootFilesystem": False}})
    d = intent(before, after)
    assert [(c.kind, c.subject) for c in d.changes] == [("defaults-workload-securityContext", "defaults")]
    assert "(2 services inherit it)" in d.changes[0].message
    assert [(r.kind, r.subject) for r in d.risks] == [("pod-security-relaxed", "defaults")]
    assert RISKS["pod-security-relaxed"] == "Pod security relaxed"


def test_a_service_that_overrides_the_changed_default_is_reported_for_its_own_change():
    before = two_services({"resources": {"cpu": "200m"}})
    after = two_services({"resources": {"cpu": "300m"}}, api_workload={"resources": {"memory": "1Gi"}})
    kinds = sorted((c.kind, c.subject) for c in intent(before, after).changes)
    assert kinds == [("defaults-workload-resources", "defaults"), ("workload-resources", "api")]


def test_a_service_turning_run_as_non_root_off_is_a_risk():
    d = intent(two_services(), two_services(api_workload={"securityContext": {"runAsNonRoot": False}}))
    assert [(r.kind, r.subject, plain(r.message)) for r in d.risks] == [
        ("pod-security-relaxed", "api", "api's pods may now run as root (runAsNonRoot: false)")
    ]
