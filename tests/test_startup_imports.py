"""What `meshc validate` imports for a YAML spec (issue 17, target 4: start-up).

Validation runs in editors and pre-commit hooks on every save, so its start-up is mostly imports.
It runs the whole pipeline (structure, rules, lowering, the self-check of the compiled output and
the behaviour verifier: nothing is dropped to start sooner), but nothing a YAML spec does not use:
no Git (review commands), no Pulumi, no CUE toolchain, no JSON Schema generation, no other
command group, and, once a run has seen the spec's CEL rules and values, no CEL interpreter (the
rules' analysis and results are kept on disk: see `meshc.compiler.selfcheck.cel._persisted`), and
no self-check at all for the objects the build cache knows passed it (an unchanged spec: none is
loaded; an edited one: only the edited objects are checked). This test fails when one of them
creeps back into the import graph.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

FORBIDDEN = (
    "git",  # GitPython: `meshc diff` / `publish` only
    "pulumi",
    "meshc.pulumi",
    "meshc.spec.cue",  # the CUE toolchain: CUE specs and --policy only
    "meshc.spec.schema",  # JSON Schema generation: `meshc schema`, structural errors only
    "meshc.compiler.review",
    "meshc.compiler.deploy",
    "meshc.compiler.inject.cli",
    "meshc.compiler.verify.cli",
    "meshc.compiler.rules.docs",
    "celpy",  # the CEL interpreter: only for a rule or value no earlier run has seen (cel._persisted)
    "lark",
    "pendulum",
)
"""Module prefixes `meshc validate SPEC.yaml` must not import."""

_PROBE = """
import json, sys
from meshc.compiler.cli import main
code = main(["validate", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_of_validate(spec: str, cache: Path) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, spec],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO), "MESHC_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["code"], out["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


@pytest.mark.parametrize("spec", ["examples/bookinfo/mesh.yaml"])
def test_validate_imports_nothing_it_does_not_use(spec: str, tmp_path: Path) -> None:
    _, cold = _modules_of_validate(spec, tmp_path)  # the first run fills meshc's cache
    assert "celpy" in cold  # it evaluated the CEL rules: the self-check did run them
    code, modules = _modules_of_validate(spec, tmp_path)
    assert code == 0
    assert "meshc.compiler.verify" in modules  # the behaviour verifier still runs
    # every compiled object passed the self-check in the first run (the build cache vouches for
    # it), so none of the checkers is even imported
    assert "meshc.compiler.selfcheck.check" not in modules and "jsonschema_rs" not in modules
    assert heavy(modules) == []


def test_validate_checks_what_an_edit_changed(tmp_path: Path) -> None:
    """An edit after a validation: the objects it changed are self-checked, the rest are not."""
    spec = tmp_path / "mesh.yaml"
    text = (REPO / "examples/bookinfo/mesh.yaml").read_text()
    spec.write_text(text)
    cache = tmp_path / "cache"
    assert _modules_of_validate(str(spec), cache)[0] == 0
    edit = ("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 40, v2: 10, v3: 50 }")
    assert edit[0] in text
    spec.write_text(text.replace(*edit))
    code, modules = _modules_of_validate(str(spec), cache)
    assert code == 0
    assert "meshc.compiler.selfcheck.check" in modules  # the reviews VirtualService changed: checked
    assert heavy(modules) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: `meshc diff` pulls in the review package (Git)."""
    assert heavy(["meshc.compiler.review.gitsource", "gitdb", "meshc.compiler.pipeline"]) == [
        "meshc.compiler.review.gitsource"
    ]


def test_validate_self_checks_exactly_the_changed_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: the second validation hands the self-check only the objects the edit changed
    (the reviews VirtualService), never an unchanged one and never nothing when one changed."""
    from meshc.compiler import cli, pipeline

    checked: list[list[str]] = []
    real = pipeline.self_check_problems

    def spy(manifests):  # type: ignore[no-untyped-def]
        checked.append([m.ref for m in manifests])
        return real(manifests)

    monkeypatch.setattr(pipeline, "self_check_problems", spy)
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    spec = tmp_path / "mesh.yaml"
    text = (REPO / "examples/bookinfo/mesh.yaml").read_text()
    spec.write_text(text)
    assert cli.main(["validate", str(spec)]) == 0
    assert len(checked[0]) > 30  # a cold cache: every object
    spec.write_text(text.replace("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 40, v2: 10, v3: 50 }"))
    assert cli.main(["validate", str(spec)]) == 0
    assert checked[1] == ["VirtualService/bookinfo/reviews"]
    assert cli.main(["validate", "--no-cache", str(spec)]) == 0
    assert len(checked[2]) == len(checked[0])  # --no-cache: everything, nothing read or written
