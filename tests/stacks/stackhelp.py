"""Helpers for the stack tests: run the real Pulumi program through `meshc plan --format json`.

Every run is a fresh `meshc` process (the Pulumi SDK keeps global state), so the tests are safe
under `pytest -n 2`. Runs without a config override are cached per worker process.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshc.compiler.deploy.plan import plain  # noqa: F401  (re-exported for the stack tests)

REPO = Path(__file__).resolve().parent.parent.parent
CORE_TYPES = {"Namespace", "ServiceAccount", "Service", "ConfigMap", "Secret"}
APPS_TYPES = {"Deployment", "StatefulSet", "DaemonSet"}


def env_without_pulumi() -> dict[str, str]:
    """The environment with every PATH entry that holds a `pulumi` executable removed."""
    parts = [
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "pulumi").exists()
    ]
    return {**os.environ, "PATH": os.pathsep.join(parts), "PYTHONPATH": str(REPO)}


def run_meshc(*args: str, cwd: Path = REPO, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        env=env_without_pulumi(),
        timeout=600,
    )


@dataclass
class Plan:
    exit_code: int
    data: dict[str, Any]
    stderr: str

    @property
    def resources(self) -> list[dict[str, Any]]:
        return list(self.data.get("resources", []))

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.resources}

    def kube(self) -> dict[str, dict[str, Any]]:
        """The Kubernetes objects (custom resources of the kubernetes package), by logical name."""
        return {
            r["name"]: r
            for r in self.resources
            if r["custom"] and r["type"].startswith("kubernetes:") and not r["type"].startswith("pulumi:")
        }

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.data.get("outputs") or {})

    @property
    def messages(self) -> list[str]:
        return [d["message"] for d in self.data.get("diagnostics", [])]


def plan(*args: str, cwd: Path = REPO, stdin: str | None = None) -> Plan:
    proc = run_meshc("plan", "--format", "json", *args, cwd=cwd, stdin=stdin)
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return Plan(proc.returncode, data, proc.stderr)


@functools.cache
def stack_plan(stack: str) -> Plan:
    """`meshc plan --stack <stack>` for the real stack files, once per worker."""
    result = plan("--stack", stack)
    assert result.exit_code == 0, result.stderr
    return result


def stack_file_config(stack: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return dict(data["config"])


def write_stack(tmp: Path, config: dict[str, Any], name: str = "test") -> Path:
    """A stack config file (Pulumi.<name>.yaml layout) outside the project, for --config-file."""
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def plan_config(tmp: Path, config: dict[str, Any], *extra: str) -> Plan:
    return plan("--stack", "test", "--config-file", str(write_stack(tmp, config)), *extra)


def type_token(api_version: str, kind: str) -> str:
    """pulumi-kubernetes' type token for a kind: core/v1 for the core group."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def group(manifest: Any) -> str:
    return str(manifest.namespace if manifest.namespace is not None else manifest.name)


def expected(manifests: list[Any], cluster_name: str | None = None) -> dict[str, Any]:
    """Logical name -> manifest, as the program names them."""
    out = {}
    for m in manifests:
        cluster = m.cluster if m.cluster is not None else cluster_name
        out[f"{cluster}/{group(m)}/{m.kind}/{m.name}"] = m
    return out
