"""`meshc inject` through the real command line: the golden cases, settings, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import meshc

from .golden import CASE_FLAGS, CASES, DATA, TEST_FLAGS, differences, load_all


@pytest.mark.parametrize("case", CASES)
def test_meshc_inject_reproduces_the_golden_case(case: str) -> None:
    result = meshc("inject", "-f", str(DATA / f"{case}.yaml"), *TEST_FLAGS, *CASE_FLAGS.get(case, []))
    assert result.returncode == 0, result.stderr
    golden = load_all((DATA / f"{case}.yaml.injected").read_text())
    assert differences(load_all(result.stdout), golden) == []


def test_stdin_and_output_file_give_the_same_bytes_every_time(tmp_path: Path) -> None:
    text = (DATA / "hello-multi.yaml").read_text()
    first = meshc("inject", "-f", "-", input=text)
    second = meshc("inject", "-f", "-", input=text)
    written = meshc("inject", "-f", str(DATA / "hello-multi.yaml"), "-o", str(tmp_path / "out.yaml"))
    assert first.returncode == second.returncode == written.returncode == 0
    assert first.stdout == second.stdout == (tmp_path / "out.yaml").read_text()
    assert "docker.io/istio/proxyv2:1.30.3" in first.stdout  # Istio's defaults when nothing is said


def test_flags_change_the_template(tmp_path: Path) -> None:
    result = meshc(
        "inject", "-f", str(DATA / "hello.yaml"), "--cni", "--proxy-cpu-limit", "500m",
        "--exclude-inbound-ports", "9104", "--exclude-outbound-ports", "5432",
        "--hold-application-until-proxy-starts",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pod = load_all(result.stdout)[0]["spec"]["template"]
    init, proxy = pod["spec"]["initContainers"]
    assert init["name"] == "istio-validation"
    assert init["args"][-2:] == ["--run-validation", "--skip-rule-apply"]
    assert "NET_ADMIN" not in str(init["securityContext"])
    assert init["args"][init["args"].index("-d") + 1] == "15090,15021,9104,15020"
    assert init["args"][init["args"].index("-o") + 1] == "5432"
    assert proxy["resources"]["limits"]["cpu"] == "500m"
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["PROXY_CONFIG"] == '{"holdApplicationUntilProxyStarts":true}\n'
    annotations = pod["metadata"]["annotations"]
    assert annotations["traffic.sidecar.istio.io/excludeInboundPorts"] == "9104,15020"
    assert '"istio-validation"' in annotations["sidecar.istio.io/status"]


def test_settings_from_a_spec(write) -> None:
    spec = write(
        "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: m}\n"
        "spec:\n  sidecarInjector: {hub: registry.example.com/istio, tag: 1.30.3-distroless}\n"
    )
    result = meshc("inject", "-f", str(DATA / "hello.yaml"), "--spec", str(spec))
    assert result.returncode == 0, result.stderr
    assert "registry.example.com/istio/proxyv2:1.30.3-distroless" in result.stdout
    flagged = meshc("inject", "-f", str(DATA / "hello.yaml"), "--spec", str(spec), "--tag", "x")
    assert "registry.example.com/istio/proxyv2:x" in flagged.stdout


def test_a_bad_spec_is_reported_with_its_position(write) -> None:
    spec = write(
        "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: m}\n"
        "spec:\n  sidecarInjector: {tagg: x}\n"
    )
    result = meshc("inject", "-f", str(DATA / "hello.yaml"), "--spec", str(spec))
    assert result.returncode == 1
    assert f"{spec}:5:" in result.stderr and "MC010" in result.stderr and not result.stdout


def test_invalid_yaml_is_reported_with_line_and_column(write) -> None:
    bad = write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n", "bad.yaml")
    result = meshc("inject", "-f", str(bad))
    assert result.returncode == 1
    assert f"{bad}:" in result.stderr and "error MC003: invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_a_bad_annotation_names_the_workload_and_writes_nothing(write) -> None:
    doc = yaml.safe_load((DATA / "resource_annotations.yaml").read_text())
    doc["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] = "lots"
    path = write("---\n" + yaml.safe_dump(doc), "app.yaml")
    result = meshc("inject", "-f", str(path))
    assert result.returncode == 1
    assert f"{path}:2:1: error MC160: Deployment/resource:" in result.stderr
    assert "'lots' is not a Kubernetes quantity" in result.stderr and not result.stdout


def test_usage_problems_exit_2(tmp_path: Path) -> None:
    missing = meshc("inject", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    bad_flag = meshc("inject", "-f", str(DATA / "hello.yaml"), "--proxy-cpu", "fast")
    assert bad_flag.returncode == 2 and "'fast' is not a Kubernetes quantity" in bad_flag.stderr


def test_opted_out_and_host_network_pods_pass_through(write) -> None:
    path = write(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {sidecar.istio.io/inject: 'false'}\n"
        "spec:\n  containers: [{name: c, image: i}]\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  hostNetwork: true\n"
        "  containers: [{name: c, image: i}]\n",
        "pods.yaml",
    )
    result = meshc("inject", "-f", str(path))
    assert result.returncode == 0
    assert "istio-proxy" not in result.stdout
    assert "Pod/a left as it is: it opts out" in result.stderr
    assert "Pod/b left as it is: it uses the host network" in result.stderr


@pytest.mark.parametrize(
    ("template_spec", "field"),
    [
        ("containers: 5", "spec.containers"),
        ("containers: [5]", "spec.containers"),
        ("containers: [{image: nginx}]", "spec.containers"),
        ("containers: [{name: a}]\n      initContainers: {a: 1}", "spec.initContainers"),
        ("containers: [{name: a}]\n      volumes: [x]", "spec.volumes"),
    ],
)
def test_a_malformed_pod_template_is_a_diagnostic_not_a_crash(write, template_spec: str, field: str) -> None:
    """A pod template whose parts do not have Kubernetes' shapes crashed the injector (exit 3)."""
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        f"    spec:\n      {template_spec}\n"
    )
    result = meshc("inject", "-f", str(write(text, "app.yaml")))
    assert result.returncode == 1, result.stderr
    assert f"error MC160: Deployment/x: the pod template's {field} is not" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
