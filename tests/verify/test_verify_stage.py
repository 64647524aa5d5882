"""The verify_output stage, `meshc verify` and `meshc can-i` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from verify_helpers import FIXTURES, manifests_of

from meshc.compiler import pipeline
from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import CompilerBug, run

REPO = Path(__file__).resolve().parents[2]


def _meshc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args], capture_output=True, text=True, env=env, cwd=REPO
    )


D9 = FIXTURES / "d9-methods-tcp-port.mesh.yaml"


def _defective_lowering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lowering as it was before defect 9's fix: the stored output it produced for the d9 spec
    (methods on a rule that must also admit the TCP port)."""
    stored = manifests_of(FIXTURES / "d9-methods-tcp-port.today.yaml")

    def lower(index: object) -> list[Manifest]:
        return list(stored)

    monkeypatch.setattr(pipeline, "lower_index", lower)


def test_every_compile_verifies_after_the_self_check() -> None:
    steps = list(run(D9).timings)  # today's lowering does what the spec says
    assert steps.index("verify_output") > steps.index("self_check")
    unchecked = run(D9, schemas=False)  # `-o DIR`: the writers self-check, verified before writing
    assert "verify_output" in unchecked.timings and "self_check" not in unchecked.timings
    assert unchecked.verified.behaviour_checked and not unchecked.verified.schemas_checked


def test_stage_turns_a_contradiction_into_a_compiler_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    _defective_lowering(monkeypatch)
    with pytest.raises(CompilerBug) as bug:
        run(FIXTURES / "d9-methods-tcp-port.mesh.yaml")
    assert any("edge: web -> cache :6379 tcp" in p for p in bug.value.problems)


def test_stage_passes_output_that_does_what_the_spec_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(
        (FIXTURES / "d9-methods-tcp-port.mesh.yaml")
        .read_text()
        .replace("methods: [GET]", "ports: [8080], methods: [GET]")
    )
    c = run(spec, behaviour=False)
    from meshc.compiler.verify import verify

    assert c.index is not None
    report = verify(c.index, c.manifests)
    assert [r.probe.key for r in report.failures if r.probe.kind != "foreign"] == []


def test_verify_command_reports_failures_with_their_chain(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshc.compiler.cli import main

    _defective_lowering(monkeypatch)
    assert main(["verify", str(D9)]) == 1
    out = capsys.readouterr().out
    assert "FAIL edge: web -> cache :6379 tcp" in out
    assert "AuthorizationPolicy/app/cache" in out
    assert main(["verify", str(D9), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["failed"] >= 1
    assert all(r["chain"] for r in data["results"])


def test_verify_command_passes_todays_output() -> None:
    done = _meshc("verify", str(D9))
    assert done.returncode == 0, done.stdout
    assert "0 failed" in done.stdout


def test_can_i_answers_one_question() -> None:
    done = _meshc("can-i", "examples/shop/mesh.yaml", "--from", "api", "--to", "cart", "--method", "PATCH")
    assert done.returncode == 1
    assert done.stdout.startswith("DENY: api -> cart")
    assert "AuthorizationPolicy/shop/cart" in done.stdout
    done = _meshc("can-i", "examples/shop/mesh.yaml", "--from", "api", "--to", "cart", "--method", "GET")
    assert done.returncode == 0 and done.stdout.startswith("ALLOW"), done.stdout
    done = _meshc("can-i", "examples/shop/mesh.yaml", "--from", "nosuch", "--to", "cart")
    assert done.returncode == 2 and "unknown service" in done.stderr


def test_can_i_through_a_gateway_and_to_an_external_host() -> None:
    shop = "examples/shop/mesh.yaml"
    done = _meshc(
        "can-i", shop, "--from", "external", "--to", "api", "--host", "shop.example.com", "--path", "/api/x"
    )
    assert done.returncode == 1 and done.stdout.startswith("DENY"), done.stdout  # no token on a JWT route
    assert "public-require-jwt" in done.stdout
    done = _meshc(
        "can-i",
        shop,
        "--from",
        "gateway/public",
        "--to",
        "api",
        "--path",
        "/api/x",
        "--jwt",
        "https://auth.shop.example.com",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["decision"] == "allow"
    done = _meshc("can-i", shop, "--from", "payments", "--to", "api.stripe.com")
    assert done.returncode == 0 and "external:api.stripe.com" in done.stdout
    done = _meshc("can-i", shop, "--from", "catalog", "--to", "api.stripe.com")
    assert done.returncode == 1 and "REGISTRY_ONLY" in done.stdout


def test_compile_with_a_contradiction_exits_3_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshc.compiler.cli import EXIT_BUG, main

    _defective_lowering(monkeypatch)
    out = tmp_path / "out"
    assert main(["compile", str(D9), "-o", str(out)]) == EXIT_BUG
    assert not out.exists()
    assert main(["compile", str(D9), "-o", "-"]) == EXIT_BUG
    assert capsys.readouterr().out == ""  # nothing on stdout either
    assert main(["validate", str(D9)]) == EXIT_BUG


@pytest.mark.parametrize("declared", ["*", "/*"])
def test_a_call_declaring_every_path_is_not_probed_for_an_undeclared_one(
    tmp_path: Path, declared: str
) -> None:
    """`paths: ["*"]` admits every path (AuthorizationPolicy value matching): the least-privilege
    probe of an undeclared path expected a denial there, so a valid spec ended in exit 3."""
    spec = tmp_path / "mesh.yaml"
    spec.write_text(
        "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: t}\nspec:\n"
        "  defaults: {namespace: app}\n  security: {authorization: {defaultDeny: true}}\n  services:\n"
        "    - {name: a, ports: [{port: 8080, protocol: http}], versions: [{name: v1, image: a:1}],\n"
        f"       calls: [{{service: b, paths: ['{declared}']}}]}}\n"
        "    - {name: b, ports: [{port: 8080, protocol: http}], versions: [{name: v1, image: b:1}]}\n",
        encoding="utf-8",
    )
    c = run(spec)  # the verify stage passed (CompilerBug before)
    assert any(m.kind == "AuthorizationPolicy" and m.name == "b" for m in c.manifests)
