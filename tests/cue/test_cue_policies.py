"""`meshc validate --policy DIR`: organisation guardrails in CUE (examples/policies), violations as MC016."""

from __future__ import annotations

from pathlib import Path

import pytest
from cue_helpers import POLICIES, REPO, _pin_wasm, line_of, meshc, needs_cue, write

from meshc.spec.cue.policy import check_policies
from meshc.spec.diagnostics import Diagnostic, SpecError
from meshc.spec.loader import load_spec

__all__ = ["_pin_wasm"]

VIOLATING = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata:
  name: risky
spec:
  defaults:
    namespace: web
  security:
    mtls: PERMISSIVE
  namespaces:
    - name: web
      mtls: DISABLE
  services:
    - name: front
      ports: [{port: 8080, protocol: http}]
      versions: [{name: v1}]
      calls:
        - {service: api}
    - name: api
      ports: [{port: 8080, protocol: http}]
      security:
        mtls: PERMISSIVE
        portMtls: [{port: 8080, mode: DISABLE}]
      versions: [{name: v1}, {name: v2}]
      traffic:
        split: {v1: 60, v2: 40}
  egress:
    - name: ext
      hosts: ["*.example.com"]
      ports: [{port: 443, protocol: tls}]
      callers: [api]
  gateways:
    - name: pub
      selector: {istio: ingressgateway}
      hosts: [risky.example.com]
      servers: [{port: 80, protocol: http}]
      jwt: {issuer: "https://id.example.com", jwksUri: "https://id.example.com/jwks"}
      routes:
        - name: open
          requireJwt: false
          to: {service: front, port: 8080}
"""

# (line containing, its occurrence, the column's token, message starts with, the path the detail names).
# The column is CUE's position of the value; the port's mode is in a YAML flow sequence, where CUE
# names no position, so meshc maps its path to the source (a mapping entry: its key).
EXPECTED = [
    (
        "mtls: PERMISSIVE",
        1,
        "PERMISSIVE",
        "production requires STRICT mTLS: the mesh-wide mode",
        "spec.security.mtls",
    ),
    (
        "mtls: DISABLE",
        1,
        "DISABLE",
        "production requires STRICT mTLS: a namespace",
        "spec.namespaces[0].mtls",
    ),
    (
        "mtls: PERMISSIVE",
        2,
        "PERMISSIVE",
        "production requires STRICT mTLS: a workload",
        "spec.services[1].security.mtls",
    ),
    (
        "mode: DISABLE",
        1,
        "mode",
        "production requires STRICT mTLS: a port",
        "spec.services[1].security.portMtls[0].mode",
    ),
    ("v2: 40", 1, "40", "no more than 20% to a canary version", "spec.services[1].traffic.split.v2"),
    ('"*.example.com"', 1, '"*.example.com"', "no wildcard egress", "spec.egress[0].hosts[0]"),
    (
        "requireJwt: false",
        1,
        "false",
        "every public route requires JWT",
        "spec.gateways[0].routes[0].requireJwt",
    ),
]


@needs_cue
def test_shop_passes_every_policy_in_yaml_and_in_cue() -> None:
    for name in ("mesh.yaml", "mesh.cue"):
        loaded = load_spec(REPO / "examples" / "shop" / name)
        assert check_policies(loaded, (POLICIES,)) == []


@needs_cue
def test_every_violation_is_reported_at_the_yaml_line(tmp_path: Path) -> None:
    write(tmp_path / "mesh.yaml", VIOLATING)
    result = meshc("validate", "mesh.yaml", "--policy", str(POLICIES), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    found = [line for line in result.stderr.splitlines() if " error MC016: " in line]
    lines = VIOLATING.splitlines()
    want = []
    for needle, occurrence, token, message, path in EXPECTED:
        number = line_of(VIOLATING, needle, occurrence)
        column = lines[number - 1].index(token) + 1
        want.append((f"mesh.yaml:{number}:{column}: error MC016: {message}", path))
    assert len(found) == len(want), result.stderr
    for prefix, path in want:
        assert any(f.startswith(prefix) and f"({path}: " in f for f in found), (prefix, path, found)
    assert "hint: policy " in result.stderr and "examples/policies/mtls.cue:" in result.stderr


@needs_cue
def test_cue_spec_violation_points_at_the_cue_line(tmp_path: Path) -> None:
    shop = (REPO / "examples" / "shop" / "mesh.cue").read_text()
    bad = shop.replace('\tsecurity: {\n\t\tmtls: "STRICT"', '\tsecurity: {\n\t\tmtls: "PERMISSIVE"')
    bad = bad.replace('hosts: ["api.sendgrid.com"]', 'hosts: ["*"]')
    # ledger is PERMISSIVE already, allowed during its mTLS migration (a plaintext source with ipBlocks)
    assert bad.count("PERMISSIVE") == shop.count("PERMISSIVE") + 1 and 'hosts: ["*"]' in bad
    spec = write(tmp_path / "mesh.cue", bad)
    found = check_policies(load_spec(spec), (POLICIES,))
    where = {(d.line, d.column, d.code) for d in found}
    mtls = next(n for n, line in enumerate(bad.splitlines(), 1) if line == '\t\tmtls: "PERMISSIVE"')
    egress = line_of(bad, 'hosts: ["*"]')
    assert where == {
        (mtls, bad.splitlines()[mtls - 1].index('"PERMISSIVE"') + 1, "MC016"),
        (egress, bad.splitlines()[egress - 1].index('"*"') + 1, "MC016"),
    }
    assert all(d.file == str(spec) for d in found)


@needs_cue
def test_gateway_without_jwt_points_at_each_route() -> None:
    spec = REPO / "examples" / "httpbin" / "mesh.yaml"
    (d,) = check_policies(load_spec(spec), (POLICIES / "jwt.cue",))
    text = spec.read_text()
    assert (d.file, d.line, d.code) == (str(spec), line_of(text, "- to: { service: httpbin"), "MC016")
    assert d.message.startswith("every public route requires JWT: its gateway validates none")
    assert d.hint is not None and d.hint.startswith(f"policy {POLICIES / 'jwt.cue'}:")


@needs_cue
def test_directory_spec_goes_through_json_and_keeps_file_positions(tmp_path: Path) -> None:
    head = "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: risky\n"
    write(tmp_path / "spec" / "a.yaml", head + "spec:\n  security:\n    mtls: STRICT\n")
    write(
        tmp_path / "spec" / "b.yaml",
        head + "spec:\n  egress:\n    - name: ext\n      hosts:\n        - api.example.com\n        - '*'\n",
    )
    loaded = load_spec(tmp_path / "spec")
    (d,) = check_policies(loaded, (POLICIES,))
    assert (d.file, d.line, d.column, d.code) == (str(tmp_path / "spec" / "b.yaml"), 10, 11, "MC016")
    assert '(spec.egress[0].hosts[1]: invalid value "*"' in d.message


@needs_cue
def test_broken_policy_is_reported_in_the_policy(tmp_path: Path) -> None:
    policy = write(tmp_path / "p" / "typo.cue", "package p\n\nspec: security: mtls: strict\n")
    found = check_policies(load_spec(REPO / "examples" / "bookinfo" / "mesh.yaml"), (policy.parent,))
    assert found == [
        Diagnostic(
            str(policy), 3, 23, "error", "MC014", 'spec.security.mtls: reference "strict" not found', None
        )
    ]


def test_missing_policy_is_a_usage_error(tmp_path: Path) -> None:
    loaded = load_spec(REPO / "examples" / "bookinfo" / "mesh.yaml")
    with pytest.raises(SpecError) as info:
        check_policies(loaded, (tmp_path / "nope",))
    assert info.value.usage and info.value.diagnostics[0].code == "MC001"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError) as info:
        check_policies(loaded, (tmp_path / "empty",))
    assert info.value.usage and "no *.cue files" in info.value.diagnostics[0].message


@needs_cue
@pytest.mark.parametrize(
    ("source", "violations"),
    [
        ("{ plaintext: true, ipBlocks: [10.20.0.0/16] }", 0),  # an mTLS migration from named ranges
        ("{ plaintext: true }", 1),  # from anywhere: no exception to STRICT
        ("{ namespaces: [ops] }", 1),  # no plaintext caller: no reason to relax
    ],
)
def test_permissive_only_during_a_migration_from_named_ranges(
    tmp_path: Path, source: str, violations: int
) -> None:
    spec = (
        "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: m\nspec:\n  services:\n"
        "    - name: ledger\n      ports: [{ port: 8080, protocol: http }]\n      security:\n"
        f"        mtls: PERMISSIVE\n        allow:\n          - source: {source}\n"
    )
    path = write(tmp_path / "mesh.yaml", spec)
    assert len(check_policies(load_spec(path), (POLICIES,))) == violations
