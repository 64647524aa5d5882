"""`meshc init [DIR]`: a repository for a new mesh that works at once (validate, compile, plan), and
that never overwrites a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from meshc.compiler.scaffold.cli import TARGETS, default_name


def meshc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("init") / "shop-mesh"
    proc = meshc("init", str(directory), cwd=directory.parent)
    assert proc.returncode == 0, proc.stderr
    return directory


def test_writes_every_file(project: Path) -> None:
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted(t.path for t in TARGETS)


def test_the_spec_names_the_schema_for_editors_and_the_schema_is_this_meshcs(project: Path) -> None:
    first = (project / "mesh.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./mesh.schema.json"
    schema = meshc("schema", cwd=project)
    assert (project / "mesh.schema.json").read_text() == schema.stdout


def test_validate_compile_and_plan_work_at_once(project: Path) -> None:
    validate = meshc("validate", "mesh.yaml", "--strict", cwd=project)
    assert validate.returncode == 0, validate.stderr
    compiled = meshc("compile", "mesh.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(compiled.stdout) if d}
    assert {"Deployment", "AuthorizationPolicy", "Gateway", "VirtualService"} <= kinds
    planned = meshc("plan", "--stack", "dev", cwd=project)
    assert planned.returncode == 0, planned.stderr
    assert "cluster default  [meshc:deploy:Cluster]" in planned.stdout
    assert "shop-mesh  [meshc:index:Mesh]" in planned.stdout
    assert "context=kind-shop-mesh" in planned.stdout
    assert "provider=cluster" in planned.stdout  # the program's own provider, not a default one


def test_the_pulumi_project_uses_the_component(project: Path) -> None:
    pulumi_yaml = yaml.safe_load((project / "Pulumi.yaml").read_text())
    assert pulumi_yaml["name"] == "shop-mesh" and pulumi_yaml["runtime"]["name"] == "python"
    stack = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    assert stack["pulumi:disable-default-providers"] == ["kubernetes"]
    assert stack["shop-mesh:context"] == "kind-shop-mesh"
    program = (project / "__main__.py").read_text()
    assert "from meshc.pulumi import Mesh" in program
    assert (project / "requirements.txt").read_text().startswith("meshc[deploy]==")


def test_ci_validates_diffs_previews_and_deploys(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github/workflows/mesh.yml").read_text())
    review, deploy = workflow["jobs"]["review"], workflow["jobs"]["deploy"]
    runs = " ".join(str(s.get("run", "")) for s in review["steps"])
    assert 'meshc validate "$MESH_SPEC"' in runs and "meshc diff" in runs and "--format markdown" in runs
    assert any("sticky-pull-request-comment" in str(s.get("uses")) for s in review["steps"])
    assert [s["with"]["command"] for s in review["steps"] if "pulumi/actions" in str(s.get("uses"))] == [
        "preview"
    ]
    assert [s["with"]["command"] for s in deploy["steps"] if "pulumi/actions" in str(s.get("uses"))] == ["up"]
    assert workflow["env"]["MESH_SPEC"] == "mesh.yaml"
    assert "refs/heads/main" in deploy["if"]
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert hooks[0]["entry"] == "meshc validate mesh.yaml"


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text("mine\n")
    proc = meshc("init", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{Path('.') / 'mesh.yaml'}: error: exists already" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mesh.yaml"]
    assert (tmp_path / "mesh.yaml").read_text() == "mine\n"


def test_a_bad_name_or_a_file_for_dir_is_a_usage_error(tmp_path: Path) -> None:
    bad = meshc("init", str(tmp_path / "x"), "--name", "Shop_Mesh", cwd=tmp_path)
    assert bad.returncode == 2 and "not a valid mesh name" in bad.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("")
    not_dir = meshc("init", str(tmp_path / "file"), cwd=tmp_path)
    assert not_dir.returncode == 2 and "is not a directory" in not_dir.stderr


@pytest.mark.parametrize(
    ("directory", "name"),
    [("shop-mesh", "shop-mesh"), ("Shop Mesh", "shop-mesh"), ("__", "mesh"), ("payments_v2", "payments-v2")],
)
def test_default_name(tmp_path: Path, directory: str, name: str) -> None:
    assert default_name(tmp_path / directory) == name
