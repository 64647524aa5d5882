"""The workloads meshc owns: resources, probes, the restricted Pod Security Standard, disruption
budgets and autoscalers; defaults and overrides; the self-check covers the new kinds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from pss import violations

from meshc.compiler.index import MeshIndex
from meshc.compiler.inject import Workload as InjectedWorkload
from meshc.compiler.inject import inject_template
from meshc.compiler.inject.spec import settings_from_spec
from meshc.compiler.pipeline import run
from meshc.compiler.selfcheck.check import check_resources
from meshc.spec.diagnostics import SpecError
from meshc.spec.models import Mesh

Out = dict[tuple[str | None, str, str | None, str], dict[str, Any]]
HTTP = [{"port": 80, "protocol": "http", "targetPort": 8080}]


def compile_spec(tmp_path: Path, spec: dict[str, Any]) -> Out:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    c = run(path)
    assert not [d for d in c.diagnostics if d.severity == "error"], [d.format() for d in c.diagnostics]
    return {(m.cluster, m.kind, m.namespace, m.name): m.body for m in c.manifests}


def pod_spec(out: Out, name: str, namespace: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = out[(None, "Deployment", namespace, name)]["spec"]["template"]["spec"]
    return spec


def app(out: Out, name: str, container: str) -> dict[str, Any]:
    return next(c for c in pod_spec(out, name)["containers"] if c["name"] == container)


# --- meshc's defaults ---------------------------------------------------------------------------


def test_defaults_a_careful_operator_would_pick(tmp_path):
    out = compile_spec(
        tmp_path,
        {"services": [{"name": "api", "ports": HTTP, "versions": [{"name": "v1", "image": "api:1"}]}]},
    )
    container = app(out, "api-v1", "api")
    assert container["resources"] == {
        "limits": {"memory": "128Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert container["readinessProbe"] == {
        "tcpSocket": {"port": 8080},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }
    assert "livenessProbe" not in container and "startupProbe" not in container
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": False,
    }
    assert pod_spec(out, "api-v1")["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # One replica: no budget (it could only allow the eviction or block every drain), no autoscaler.
    assert out[(None, "Deployment", "default", "api-v1")]["spec"]["replicas"] == 1
    assert not [k for k in out if k[1] in ("PodDisruptionBudget", "HorizontalPodAutoscaler")]


def test_two_replicas_get_a_budget_of_one_eviction_at_a_time(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {"name": "api", "ports": HTTP, "versions": [{"name": "v1", "image": "a:1", "replicas": 2}]}
            ]
        },
    )
    assert out[(None, "PodDisruptionBudget", "default", "api-v1")]["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app": "api", "version": "v1"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


# --- overrides: the service's own, over the mesh's defaults, field by field -----------------------


def test_service_settings_win_over_mesh_defaults_field_by_field(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "defaults": {
                "workload": {
                    "resources": {"cpu": "250m", "memory": "256Mi", "cpuLimit": "1"},
                    "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True},
                    "disruptionBudget": {"maxUnavailable": "25%"},
                    "autoscaling": {"maxReplicas": 4},
                }
            },
            "services": [
                {
                    "name": "api",
                    "ports": HTTP,
                    "versions": [{"name": "v1", "image": "a:1", "replicas": 3}],
                    "workload": {
                        "resources": {"memory": "1Gi"},
                        "securityContext": {"fsGroup": 2000},
                        "disruptionBudget": {"minAvailable": 2},
                        "autoscaling": {"minReplicas": 3, "memoryUtilization": 80},
                    },
                    "calls": [{"service": "web"}],
                },
                {
                    "name": "web",
                    "ports": HTTP,
                    "versions": [{"name": "v1", "image": "w:1"}],
                    "workload": {"autoscaling": {"enabled": False}, "disruptionBudget": {"enabled": False}},
                },
            ],
        },
    )
    container = app(out, "api-v1", "api")
    assert container["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"},  # the memory limit follows the service's request
        "requests": {"cpu": "250m", "memory": "1Gi"},
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod_spec(out, "api-v1")["securityContext"] == {
        "fsGroup": 2000,
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # minAvailable and maxUnavailable exclude each other: the service's section wins whole.
    pdb = out[(None, "PodDisruptionBudget", "default", "api-v1")]["spec"]
    assert pdb["minAvailable"] == 2 and "maxUnavailable" not in pdb
    hpa = out[(None, "HorizontalPodAutoscaler", "default", "api-v1")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 4)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api-v1"}
    assert hpa["metrics"] == [
        {
            "type": "ContainerResource",
            "containerResource": {
                "container": "api",
                "name": name,
                "target": {"type": "Utilization", "averageUtilization": target},
            },
        }
        for name, target in (("cpu", 70), ("memory", 80))
    ]
    # The autoscaler owns the replicas: the Deployment does not say them (an apply would reset them).
    assert "replicas" not in out[(None, "Deployment", "default", "api-v1")]["spec"]
    assert (None, "HorizontalPodAutoscaler", "default", "web-v1") not in out
    assert (None, "PodDisruptionBudget", "default", "web-v1") not in out
    assert out[(None, "Deployment", "default", "web-v1")]["spec"]["replicas"] == 1


def test_a_parked_version_gets_no_autoscaler_and_no_budget(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {
                    "name": "api",
                    "ports": HTTP,
                    "versions": [
                        {"name": "v1", "image": "a:1"},
                        {"name": "v2", "image": "a:2", "replicas": 0},
                    ],
                    "workload": {"autoscaling": {}, "disruptionBudget": {"maxUnavailable": 1}},
                }
            ]
        },
    )
    assert out[(None, "Deployment", "default", "api-v2")]["spec"]["replicas"] == 0
    assert (None, "HorizontalPodAutoscaler", "default", "api-v2") not in out
    assert (None, "PodDisruptionBudget", "default", "api-v2") not in out
    assert out[(None, "HorizontalPodAutoscaler", "default", "api-v1")]["spec"]["minReplicas"] == 2
    assert (None, "PodDisruptionBudget", "default", "api-v1") in out


def test_probes_go_to_the_container_port_behind_the_service_port(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {
                    "name": "api",
                    "ports": [*HTTP, {"port": 9090, "protocol": "grpc"}, {"port": 5432, "protocol": "tcp"}],
                    "versions": [{"name": "v1", "image": "a:1"}],
                    "workload": {
                        "probes": {
                            "liveness": {"port": 80, "path": "/livez", "periodSeconds": 20},
                            "readiness": {"port": 9090},
                            "startup": {"port": 5432, "initialDelaySeconds": 3, "failureThreshold": 100},
                        }
                    },
                }
            ]
        },
    )
    container = app(out, "api-v1", "api")
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/livez", "port": 8080},
        "periodSeconds": 20,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }
    assert container["readinessProbe"]["grpc"] == {"port": 9090}
    assert container["startupProbe"] == {
        "tcpSocket": {"port": 5432},
        "initialDelaySeconds": 3,
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 100,
    }


def test_quantities_are_written_as_the_api_server_stores_them(tmp_path):
    out = compile_spec(
        tmp_path,
        {
            "services": [
                {
                    "name": "api",
                    "ports": HTTP,
                    "versions": [{"name": "v1", "image": "a:1"}],
                    "workload": {"resources": {"cpu": "1000m", "memory": "1024Mi", "cpuLimit": "2000m"}},
                }
            ]
        },
    )
    assert app(out, "api-v1", "api")["resources"] == {
        "limits": {"cpu": "2", "memory": "1Gi"},
        "requests": {"cpu": "1", "memory": "1Gi"},
    }


def test_run_as_root_with_run_as_non_root_is_refused_where_written(tmp_path):
    doc = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "t"},
        "spec": {
            "services": [
                {
                    "name": "a",
                    "versions": [{"name": "v1", "image": "a:1"}],
                    "workload": {"securityContext": {"runAsUser": 0}},
                }
            ]
        },
    }
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SpecError) as raised:
        run(path)
    (error,) = raised.value.diagnostics
    assert error.code == "MC013" and "runAsUser 0 is root" in error.message and error.line > 1


# --- the restricted Pod Security Standard ----------------------------------------------------------


def test_the_checker_flags_what_the_standard_forbids():
    """The checker itself: a default pod (nothing set) breaks restricted in every container control,
    passes baseline; istio-init's root and NET_ADMIN break both."""
    bare = {"containers": [{"name": "app", "image": "x"}]}
    assert {control for control, _ in violations(bare)} == {
        "Privilege Escalation",
        "Running as Non-root",
        "Seccomp (restricted)",
        "Capabilities (restricted): drop ALL",
    }
    assert violations(bare, "baseline") == []
    init = {"name": "istio-init", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}, "runAsUser": 0}}
    assert ("Capabilities", "initContainers[istio-init] adds ['NET_ADMIN']") in violations(
        {**bare, "initContainers": [init]}, "baseline"
    )
    assert violations({"hostNetwork": True, **bare}, "baseline") == [("Host Namespaces", "spec.hostNetwork")]
    assert ("Volume Types", "volumes[h]") in violations(
        {**bare, "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    )


EXAMPLES = sorted(REPO.glob("examples/*/mesh.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_pod_meshc_writes_passes_restricted_before_injection(path):
    """Every Deployment of every example, as meshc writes it (in auto mode the webhook adds the
    sidecar later; a manually injected one is checked below)."""
    c = run(path)
    checked = 0
    for m in c.manifests:
        if m.kind != "Deployment":
            continue
        spec = m.body["spec"]["template"]["spec"]
        own = {**spec, "initContainers": [], "volumes": []}
        own["containers"] = [c for c in spec["containers"] if c["name"] != "istio-proxy"]
        assert violations(own) == [], (m.namespace, m.name)
        checked += 1
    assert checked


def _mesh(spec: dict[str, Any]) -> Mesh:
    doc = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "t"}, "spec": spec}
    return Mesh.model_validate(doc)


SERVICE = {"name": "api", "ports": HTTP, "versions": [{"name": "v1", "image": "a:1", "replicas": 2}]}


@pytest.mark.parametrize("mode", ["manual", "webhook"])
def test_injected_pods_pass_restricted_with_istio_cni_and_fail_without_it_on_istio_init_only(tmp_path, mode):
    """What docs/workloads.md claims: with Istio CNI the whole injected pod (istio-proxy,
    istio-validation, the Istio volumes) passes restricted; without it exactly istio-init fails
    (root, NET_ADMIN and NET_RAW), in baseline too. Manual mode is meshc's own output; the webhook
    is emulated by running the injector over meshc's un-injected pod with the same settings."""
    for cni in (True, False):
        spec = {"sidecarInjector": {"cni": cni}, "services": [copy.deepcopy(SERVICE)]}
        if mode == "manual":
            spec["defaults"] = {"injection": {"mode": "manual"}}
            pod = pod_spec(compile_spec(tmp_path, spec), "api-v1")
        else:
            template = compile_spec(tmp_path, spec)[(None, "Deployment", "default", "api-v1")]["spec"][
                "template"
            ]
            settings = settings_from_spec(MeshIndex(_mesh(spec)).mesh)
            workload = InjectedWorkload("apps/v1", "Deployment", "api-v1", "default")
            _, pod = inject_template(template["metadata"], template["spec"], workload, settings)
        names = {c["name"] for c in pod.get("initContainers", [])}
        assert "istio-proxy" in names
        found = violations(pod)
        if cni:
            assert "istio-validation" in names
            assert found == [], found
        else:
            assert {where.split(" ")[0] for _, where in found} == {"initContainers[istio-init]"}, found
            assert {control for control, _ in found} == {
                "Capabilities",
                "Capabilities (restricted): add",
                "Running as Non-root",
                "Running as Non-root user",
            }
            assert violations(pod, "baseline") != []


def test_tproxy_interception_fails_restricted_on_the_proxy(tmp_path):
    spec = {
        "sidecarInjector": {"cni": True, "interceptionMode": "TPROXY"},
        "defaults": {"injection": {"mode": "manual"}},
        "services": [copy.deepcopy(SERVICE)],
    }
    found = violations(pod_spec(compile_spec(tmp_path, spec), "api-v1"))
    assert found and {where.split(" ")[0] for _, where in found} == {"initContainers[istio-proxy]"}


# --- the self-check validates the new kinds --------------------------------------------------------


def test_self_check_validates_budgets_and_autoscalers_against_the_kubernetes_schemas(tmp_path):
    spec = {"services": [{**copy.deepcopy(SERVICE), "workload": {"autoscaling": {}}}]}
    out = compile_spec(tmp_path, spec)
    hpa = out[(None, "HorizontalPodAutoscaler", "default", "api-v1")]
    pdb = out[(None, "PodDisruptionBudget", "default", "api-v1")]
    assert check_resources([hpa, pdb]) == []
    bad_hpa = copy.deepcopy(hpa)
    bad_hpa["spec"]["minReplicas"] = "2"
    bad_pdb = copy.deepcopy(pdb)
    bad_pdb["spec"]["maxUnavailabel"] = 1
    errors = check_resources([bad_hpa, bad_pdb])
    assert {e.kind for e in errors} == {"HorizontalPodAutoscaler", "PodDisruptionBudget"}, errors


def test_output_is_deterministic(tmp_path):
    spec = {
        "defaults": {"workload": {"autoscaling": {"memoryUtilization": 75}}},
        "services": [
            {**copy.deepcopy(SERVICE), "workload": {"probes": {"liveness": {"port": 80, "path": "/l"}}}}
        ],
    }
    first = compile_spec(tmp_path, spec)
    assert yaml.safe_dump(first) == yaml.safe_dump(compile_spec(tmp_path, spec))
