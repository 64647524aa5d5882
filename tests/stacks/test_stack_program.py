"""The real program (Pulumi.yaml's `main`) with the real stack files, under the SDK's mock engine:
what it registers is exactly what `meshc compile` produces, under the right providers and parents,
with the right dependencies and outputs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from stackhelp import (
    APPS_TYPES,
    CORE_TYPES,
    REPO,
    expected,
    plain,
    plan,
    stack_file_config,
    stack_plan,
    type_token,
)

from meshc.compiler.pipeline import run

STACKS = {"dev": "examples/bookinfo/mesh.yaml", "prod": "examples/multicluster/mesh.yaml"}


def compiled(stack: str) -> dict[str, object]:
    config = stack_file_config(stack)
    clusters = config["meshc:clusters"]
    single = next(iter(clusters)) if len(clusters) == 1 else None
    return expected(run(REPO / config["meshc:spec"]).manifests, single)


def test_pulumi_yaml_points_at_the_program() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "meshc"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (REPO / project["main"] / "__main__.py").is_file()
    for stack, spec in STACKS.items():
        config = stack_file_config(stack)
        assert config["meshc:spec"] == spec
        assert config["pulumi:disable-default-providers"] == ["kubernetes"]


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_registrations_are_the_compiled_manifests_one_to_one(stack: str) -> None:
    result = stack_plan(stack)
    want = compiled(stack)
    got = result.kube()
    assert set(got) == set(want)
    for name, m in want.items():
        reg = got[name]
        assert reg["type"] == type_token(m.api_version, m.kind), name  # type: ignore[attr-defined]
        assert reg["inputs"] == plain(m.body), name  # type: ignore[attr-defined]


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_core_kinds_use_typed_classes_and_istio_kinds_custom_resources(stack: str) -> None:
    for name, reg in stack_plan(stack).kube().items():
        kind = name.split("/")[2]
        if kind in CORE_TYPES:
            assert reg["type"] == f"kubernetes:core/v1:{kind}"
        elif kind in APPS_TYPES:
            assert reg["type"] == f"kubernetes:apps/v1:{kind}"
        elif kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler"):
            group_version = "policy/v1" if kind == "PodDisruptionBudget" else "autoscaling/v2"
            assert reg["type"] == f"kubernetes:{group_version}:{kind}"
        else:
            assert reg["type"].split(":")[1].split("/")[0].endswith("istio.io"), reg["type"]


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_no_registration_carries_aliases(stack: str) -> None:
    """pulumi-kubernetes gives `apps/v1` workloads aliases for API versions Kubernetes removed in
    1.16; a meshc stack never created anything under them, so the program drops them (they cost the
    SDK and the engine work for every Deployment) and nothing is registered with any alias."""
    kinds = set()
    for name, reg in stack_plan(stack).kube().items():
        assert "aliases" not in reg, (name, reg.get("aliases"))
        kinds.add(name.split("/")[2])
    assert "Deployment" in kinds  # the kind that would carry them


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_each_resource_is_under_its_cluster_and_namespace_with_its_clusters_provider(stack: str) -> None:
    result = stack_plan(stack)
    regs = result.by_name()
    clusters = stack_file_config(stack)["meshc:clusters"]
    providers = {r["name"]: r for r in result.resources if r["type"] == "pulumi:providers:kubernetes"}
    assert set(providers) == set(clusters)
    for name, provider in providers.items():
        assert provider["parent"] == name and regs[name]["type"] == "meshc:deploy:Cluster"
        inputs = provider["inputs"]
        assert inputs["context"] == clusters[name]["context"]
        assert inputs["kubeconfig"] == clusters[name]["kubeconfig"]  # `~` kept in the display form
        assert inputs["enableServerSideApply"] == "true"
    for name, reg in result.kube().items():
        cluster, namespace = name.split("/")[:2]
        assert reg["provider"] == cluster, name
        parent = regs[reg["parent"]]
        assert parent["type"] == "meshc:deploy:Namespace" and parent["name"] == f"{cluster}/{namespace}"
        assert regs[parent["parent"]]["type"] == "meshc:deploy:Cluster" and parent["parent"] == cluster
    # Nothing Kubernetes-typed is registered without an explicit provider.
    assert all(r["provider"] for r in result.resources if r["custom"] and r["type"].startswith("kubernetes:"))


def test_provider_kubeconfig_is_resolved_for_the_provider() -> None:
    """The provider receives an absolute path (`~` expanded) while the plan displays the config form."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json,sys;from pathlib import Path;"
            "from compiler.deploy.mockrun import run_stack;"
            "r=run_stack(Path(sys.argv[1]),'prod');"
            "print(json.dumps([x.inputs for x in r.registrations if x.type=='pulumi:providers:kubernetes']))",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": "/home/tester"},
        check=False,
        executable=str(Path(__import__("sys").executable)),
    )
    assert proc.returncode == 0, proc.stderr
    kubeconfigs = sorted(i["kubeconfig"] for i in yaml.safe_load(proc.stdout))
    assert kubeconfigs == ["/home/tester/.kube/travel-east.yaml", "/home/tester/.kube/travel-west.yaml"]


def test_only_the_control_plane_namespace_is_retained_on_delete() -> None:
    for stack in STACKS:
        retained = {n for n, r in stack_plan(stack).kube().items() if r.get("retainOnDelete")}
        if stack == "prod":
            assert retained == {
                "east/istio-system/Namespace/istio-system",
                "west/istio-system/Namespace/istio-system",
            }
        else:
            assert retained == set()  # a single-network mesh does not touch istio-system's Namespace


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_everything_in_a_namespace_waits_for_its_namespace(stack: str) -> None:
    kube = stack_plan(stack).kube()
    for name, reg in kube.items():
        cluster, namespace, kind, _ = name.split("/")
        ns_key = f"{cluster}/{namespace}/Namespace/{namespace}"
        if kind == "Namespace":
            assert reg["dependsOn"] == []
        elif ns_key in kube:
            assert ns_key in reg["dependsOn"], name
        else:  # istio-system of a single-cluster mesh: not managed by the stack, nothing to wait for
            assert not any(d.endswith("/Namespace/" + namespace) for d in reg["dependsOn"])


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_deployments_wait_for_their_service_account(stack: str) -> None:
    want = compiled(stack)
    for name, reg in stack_plan(stack).kube().items():
        if "/Deployment/" in name:
            account = want[name].body["spec"]["template"]["spec"]["serviceAccountName"]  # type: ignore[attr-defined]
            cluster, namespace = name.split("/")[:2]
            assert f"{cluster}/{namespace}/ServiceAccount/{account}" in reg["dependsOn"]


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_first_deployment_applies_destination_rules_before_virtual_services(stack: str) -> None:
    kube = stack_plan(stack).kube()
    want = compiled(stack)
    checked = 0
    for name, reg in kube.items():
        if "/VirtualService/" not in name:
            continue
        spec = want[name].body["spec"]  # type: ignore[attr-defined]
        cluster, namespace = name.split("/")[:2]
        for rule in spec.get("http", []) + spec.get("tcp", []):
            for route in rule.get("route", []):
                dest = route["destination"]
                if "subset" in dest:
                    short = dest["host"].split(".")[0]
                    dr = f"{cluster}/{namespace}/DestinationRule/{short}"
                    assert dr in reg["dependsOn"], (name, dr)
                    assert name not in kube[dr]["dependsOn"]
                    checked += 1
    assert checked


def test_outputs_of_the_multicluster_stack() -> None:
    result = stack_plan("prod")
    out = result.outputs
    spec = REPO / "examples/multicluster/mesh.yaml"
    manifests = run(spec).manifests
    assert out["ingressHosts"] == {"east": ["travel.example.com"], "west": []}
    assert out["resourceCounts"] == dict(sorted(Counter(m.kind for m in manifests).items()))
    assert out["resourceCount"] == len(manifests) == len(result.kube())
    data = spec.read_bytes()
    digest = hashlib.sha256(b"mesh.yaml\0" + str(len(data)).encode() + b"\0" + data).hexdigest()
    assert out["specDigest"] == f"sha256:{digest}"
    assert out["clusters"] == ["east", "west"]
    assert out["shard"] == {"namespaces": "all", "meshWide": True}
    assert out["destinationRuleSubsets"]["east/travel/reviews"] == ["v1", "v2"]
    assert set(out["destinationRuleSubsets"]) == {
        f"{n.split('/')[0]}/{n.split('/')[1]}/{n.split('/')[3]}"
        for n in result.kube()
        if "/DestinationRule/" in n
    }


def test_outputs_of_the_single_cluster_stack_and_the_spec_commit() -> None:
    out = stack_plan("dev").outputs
    assert out["ingressHosts"] == {"default": ["*"]}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", "examples/bookinfo/mesh.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out["specCommit"] == head.stdout.strip()
    assert out["specDirty"] is bool(status.stdout.strip())


def test_spec_outside_git_has_no_commit_output(tmp_path: Path) -> None:
    from stackhelp import plan_config

    spec = tmp_path / "spec" / "mesh.yaml"
    spec.parent.mkdir()
    spec.write_bytes((REPO / "examples/bookinfo/mesh.yaml").read_bytes())
    result = plan_config(
        tmp_path, {"meshc:spec": str(spec), "meshc:clusters": {"kind": {"context": "kind-kind"}}}
    )
    assert result.exit_code == 0, result.stderr
    assert "specCommit" not in result.outputs and "specDirty" not in result.outputs
    assert result.outputs["specDigest"] == stack_plan("dev").outputs["specDigest"]
    assert {n.split("/")[0] for n in result.kube()} == {"kind"}


def test_relative_paths_resolve_against_the_project_directory_whatever_the_working_directory() -> None:
    """Pulumi starts the program in `stacks/` (the `main` directory); `meshc plan` may start anywhere."""
    from_main_dir = plan("--stack", "prod", cwd=REPO / "stacks")
    assert from_main_dir.exit_code == 0, from_main_dir.stderr
    elsewhere = plan("--stack", "prod", "-C", str(REPO), cwd=Path("/"))
    assert elsewhere.exit_code == 0, elsewhere.stderr
    baseline = stack_plan("prod")
    for other in (from_main_dir, elsewhere):
        assert other.resources == baseline.resources
