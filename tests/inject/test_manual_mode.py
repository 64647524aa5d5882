"""Manual injection mode in compiled output: the Deployments meshc owns carry the sidecar exactly
as kube-inject writes it, the webhook is kept away, and the output stays self-checked and stable."""

from __future__ import annotations

import copy
from typing import Any

from meshc.compiler.inject import inject_object
from meshc.compiler.inject.spec import settings_from_spec
from meshc.compiler.lower.common import Manifest
from meshc.compiler.pipeline import compile_mesh, parse, self_check_problems

HEADER = "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: m}\nspec:\n"
SERVICES = """\
  services:
    - name: ledger
      namespace: pay
      ports: [{ port: 8080, protocol: http }]
      versions:
        - { name: v1, image: ledger:1 }
        - { name: v2, image: ledger:2, labels: { version: v2, track: canary } }
      proxy:
        { cpuLimit: 500m, memory: 256Mi, excludeInboundPorts: [9104], holdApplicationUntilProxyStarts: true }
      calls: [{ service: fx }]
    - name: fx
      namespace: pay
      ports: [{ port: 9090, protocol: grpc }]
      versions: [{ name: v1, image: fx:1 }]
"""


def by_ref(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {m.ref: m.body for m in manifests}


def compile_text(write, text: str, name: str = "mesh.yaml") -> list[Manifest]:
    return compile_mesh(write(text, name))


def test_manual_deployments_are_what_kube_inject_writes_for_the_auto_ones(write) -> None:
    injector = "  sidecarInjector: { hub: registry.example.com/istio, tag: 1.30.3-distroless, cni: true }\n"
    auto = compile_text(write, HEADER + injector + SERVICES, "auto.yaml")
    manual_spec = (
        HEADER + injector + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n" + SERVICES
    )
    manual = by_ref(compile_text(write, manual_spec, "manual.yaml"))
    mesh = parse(write(manual_spec, "manual.yaml")).mesh
    assert mesh is not None
    settings = settings_from_spec(mesh)
    deployments = [m for m in auto if m.kind == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        webhook_free = copy.deepcopy(deployment.body)
        expected = inject_object(webhook_free, settings, go_defaults=False)
        expected["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
        assert manual[deployment.ref] == expected
        init, proxy = manual[deployment.ref]["spec"]["template"]["spec"]["initContainers"]
        assert init["name"] == "istio-validation" and proxy["restartPolicy"] == "Always"
        assert proxy["image"] == "registry.example.com/istio/proxyv2:1.30.3-distroless"


def test_the_namespace_is_kept_away_from_the_webhook(write) -> None:
    spec = HEADER + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n" + SERVICES
    out = by_ref(compile_text(write, spec))
    assert out["Namespace/pay"]["metadata"]["labels"]["istio-injection"] == "disabled"
    pod = out["Deployment/pay/ledger-v1"]["spec"]["template"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert "sidecar.istio.io/status" in pod["metadata"]["annotations"]


def test_per_workload_proxy_settings_are_honoured(write) -> None:
    spec = HEADER + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n" + SERVICES
    pod = by_ref(compile_text(write, spec))["Deployment/pay/ledger-v1"]["spec"]["template"]
    init, proxy = pod["spec"]["initContainers"]
    assert proxy["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert init["args"][init["args"].index("-d") + 1] == "15090,15021,9104,15020"
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["PROXY_CONFIG"] == '{"holdApplicationUntilProxyStarts":true}\n'
    assert env["ISTIO_META_WORKLOAD_NAME"] == "ledger-v1"
    assert env["ISTIO_META_OWNER"] == "kubernetes://apis/apps/v1/namespaces/pay/deployments/ledger-v1"
    labels = pod["metadata"]["labels"]
    assert labels["service.istio.io/canonical-name"] == "ledger"
    assert labels["service.istio.io/canonical-revision"] == "v1"


def test_the_injected_output_passes_the_self_check_and_is_stable(write) -> None:
    spec = HEADER + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n" + SERVICES
    first = compile_text(write, spec, "a.yaml")
    assert self_check_problems(first) == []
    again = compile_text(write, spec, "b.yaml")
    assert [m.body for m in first] == [m.body for m in again]
    # Changing an unrelated service changes no injected manifest.
    changed = compile_text(write, spec.replace("image: fx:1", "image: fx:9"), "c.yaml")
    before, after = by_ref(first), by_ref(changed)
    for ref in ("Deployment/pay/ledger-v1", "Deployment/pay/ledger-v2"):
        assert before[ref] == after[ref]
    assert before["Deployment/pay/fx-v1"] != after["Deployment/pay/fx-v1"]


def test_a_mixed_namespace_lets_auto_pods_select_the_webhook(write) -> None:
    spec = (
        HEADER
        + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n"
        + SERVICES.replace(
            "      versions: [{ name: v1, image: fx:1 }]\n",
            "      versions: [{ name: v1, image: fx:1 }]\n"
            "      injection: { mode: auto, revision: canary }\n",
        )
    )
    out = by_ref(compile_text(write, spec))
    assert "istio-injection" not in out["Namespace/pay"]["metadata"]["labels"]
    fx = out["Deployment/pay/fx-v1"]["spec"]["template"]
    assert fx["metadata"]["labels"]["istio.io/rev"] == "canary"
    assert "initContainers" not in fx["spec"]
    ledger = out["Deployment/pay/ledger-v1"]["spec"]["template"]
    assert ledger["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_a_workload_in_manual_mode_uses_its_revision(write) -> None:
    spec = HEADER + SERVICES.replace(
        "      versions: [{ name: v1, image: fx:1 }]\n",
        "      versions: [{ name: v1, image: fx:1 }]\n      injection: { mode: manual, revision: canary }\n",
    )
    out = by_ref(compile_text(write, spec))
    fx = out["Deployment/pay/fx-v1"]["spec"]["template"]
    assert fx["metadata"]["annotations"]["istio.io/rev"] == "canary"
    proxy = fx["spec"]["initContainers"][1]
    assert {"name": "CA_ADDR", "value": "istiod-canary.istio-system.svc:15012"} in proxy["env"]
    assert out["Namespace/pay"]["metadata"]["labels"]["istio-injection"] == "enabled"


def test_multicluster_manual_pods_name_their_cluster(write) -> None:
    spec = (
        HEADER
        + "  clusters:\n"
        + "    - { name: east, network: net1, region: us-east1 }\n"
        + "  namespaces: [{ name: pay, injection: { mode: manual } }]\n"
        + SERVICES
    )
    manifests = compile_text(write, spec)
    ledger = next(m for m in manifests if m.kind == "Deployment" and m.name == "ledger-v1")
    env = ledger.body["spec"]["template"]["spec"]["initContainers"][1]["env"]
    assert {"name": "ISTIO_META_CLUSTER_ID", "value": "east"} in env
