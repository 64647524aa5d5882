"""`meshc plan`: the offline plan of a stack, as text (golden) and JSON, and its usage errors.

Regenerate the golden file after an intended change with
`UPDATE_GOLDEN=1 pytest tests/stacks/test_stack_plan.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from stackhelp import REPO, env_without_pulumi, run_meshc, stack_plan

GOLDEN = Path(__file__).parent / "golden" / "plan-prod.txt"


def normalize(text: str) -> str:
    """The lines that depend on the repository's state, not on the program."""
    text = re.sub(r'specCommit: "[0-9a-f]{40}"', 'specCommit: "<commit>"', text)
    return re.sub(r"specDirty: (true|false)", "specDirty: <dirty>", text)


def test_plan_of_the_multicluster_stack_matches_golden() -> None:
    proc = run_meshc("plan", "--stack", "prod")
    assert proc.returncode == 0, proc.stderr
    text = normalize(proc.stdout)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), f"missing golden file {GOLDEN}; run with UPDATE_GOLDEN=1"
    assert text == GOLDEN.read_text(), f"plan differs from {GOLDEN}"


def test_plan_says_it_is_offline_and_not_a_diff() -> None:
    text = GOLDEN.read_text()
    head = "\n".join(text.splitlines()[:8])
    assert "OFFLINE PLAN" in head and "not a diff against live state" in head
    data = stack_plan("prod").data
    assert data["offline"] is True and "not a diff against live state" in data["notice"]


def test_plan_is_deterministic() -> None:
    first = run_meshc("plan", "--stack", "prod", "--format", "json")
    assert first.returncode == 0
    assert json.loads(first.stdout)["resources"] == stack_plan("prod").resources


def test_plan_needs_a_stack_when_several_exist() -> None:
    proc = run_meshc("plan")
    assert proc.returncode == 2
    assert "pass --stack NAME" in proc.stderr


def test_plan_of_an_unknown_stack() -> None:
    proc = run_meshc("plan", "--stack", "staging")
    assert proc.returncode == 2
    assert "Pulumi.staging.yaml: no such stack config file (stacks here: dev, prod)" in proc.stderr


def test_plan_outside_a_project(tmp_path: Path) -> None:
    proc = run_meshc("plan", "--stack", "dev", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no Pulumi.yaml here or in any parent directory" in proc.stderr


def test_plan_rejects_a_bad_stack_name() -> None:
    proc = run_meshc("plan", "--stack", "a b")
    assert proc.returncode == 2 and "is not a stack name" in proc.stderr


def test_validate_does_not_import_pulumi() -> None:
    """`meshc validate` loads the deploy command group (for its parsers) but never Pulumi."""
    code = (
        "import sys; from compiler.cli import main; rc = main(['validate', 'examples/bookinfo/mesh.yaml']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_kubernetes')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env_without_pulumi(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (
        "meshc.compiler.deploy.cli"
        in subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from compiler.cli import build_parser; build_parser(); print(list(sys.modules))",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env_without_pulumi(),
            check=False,
        ).stdout
    )


def test_plan_shows_aliases_when_a_registration_has_them() -> None:
    from meshc.compiler.deploy.mockrun import ProgramRun, Registration
    from meshc.compiler.deploy.plan import render_json, render_text

    urn = "urn:pulumi:dev::meshc::kubernetes:apps/v1:Deployment::default/shop/Deployment/cart"
    reg = Registration(
        urn=urn,
        type="kubernetes:apps/v1:Deployment",
        name="default/shop/Deployment/cart",
        parent=None,
        provider=None,
        dependencies=[],
        custom=True,
        aliases=["type=kubernetes:apps/v1beta1:Deployment", "name=default/shop/Deployment/basket"],
    )
    run = ProgramRun("meshc", "dev", registrations=[reg])
    text = render_text(run, REPO, previous=False)
    assert "  aliases: type=kubernetes:apps/v1beta1:Deployment; name=default/shop/Deployment/basket" in text
    resource = json.loads(render_json(run, REPO, previous=False))["resources"][0]
    assert resource["aliases"] == reg.aliases
