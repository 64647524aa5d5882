"""Every way input can be wrong gets one diagnostic with file, line and column; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import meshc

from meshc.spec import SpecError, load_spec, parse_mesh
from meshc.spec.loader import _plain, parse_fast

HEADER = "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: demo\n"


def diagnostics(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_mesh(load_spec(path))
    return [d.format().splitlines()[0] for d in info.value.diagnostics]


def only(path: Path) -> str:
    found = diagnostics(path)
    assert len(found) == 1, found
    return found[0]


def test_malformed_yaml(write):
    path = write(HEADER + "spec:\n  services: [\n    {name: a\n")
    line = only(path)
    assert line.startswith(f"{path}:") and " error MC003: invalid YAML" in line


def test_tab_indentation(write):
    path = write(HEADER + "spec:\n\tservices: []\n")
    assert only(path).startswith(f"{path}:6:1: error MC003:")


def test_wrong_type(write):
    path = write(HEADER + "spec:\n  services:\n    - name: a\n      ports:\n        - port: eighty\n")
    assert only(path) == (
        f"{path}:9:11: error MC009: spec.services[0].ports[0].port: expected an integer, got string 'eighty'"
    )


def test_unknown_field_with_suggestion(write):
    path = write(HEADER + "spec:\n  services:\n    - name: a\n      namespce: shop\n")
    with pytest.raises(SpecError) as info:
        parse_mesh(load_spec(path))
    (d,) = info.value.diagnostics
    assert (d.line, d.column, d.code) == (8, 7, "MC010")
    assert d.hint == "did you mean 'namespace'?"


def test_missing_required_field(write):
    path = write(HEADER + "spec:\n  services:\n    - ports: []\n")
    assert only(path) == f"{path}:7:7: error MC011: missing required field 'name' in spec.services[0]"


def test_invalid_enum_value(write):
    path = write(HEADER + "spec:\n  security:\n    mtls: STRICTLY\n")
    line = only(path)
    assert line.startswith(f"{path}:7:5: error MC013: spec.security.mtls: invalid value 'STRICTLY'")


def test_wrong_kind_and_version(write):
    path = write("apiVersion: v1\nkind: Mesh\nmetadata: {name: x}\nspec: {}\n")
    assert only(path).startswith(f"{path}:1:1: error MC013: apiVersion: invalid value 'v1'")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(write, text):
    path = write(text)
    assert only(path) == f"{path}:1:1: error MC006: file is empty"


def test_top_level_not_a_mapping(write):
    path = write("- a\n- b\n")
    assert " error MC009: a spec must be a mapping" in only(path)


def test_duplicate_key(write):
    path = write(HEADER + "spec:\n  services:\n    - name: a\n      name: b\n")
    assert only(path) == f"{path}:8:7: error MC004: duplicate key 'name'"


def test_duplicate_top_level_key(write):
    path = write(HEADER + "spec: {}\nspec: {}\n")
    assert only(path) == f"{path}:6:1: error MC004: duplicate key 'spec'"


def test_several_documents(write):
    path = write(HEADER + "spec: {}\n---\n" + HEADER + "spec: {}\n")
    assert (
        only(path)
        == f"{path}:6:1: error MC005: several YAML documents in one file; a spec file holds one document"
    )


def test_alias_bomb(write):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    path = write("\n".join(lines) + "\n")
    line = only(path)
    assert " error MC007: " in line and "alias" in line


def test_recursive_alias(write):
    path = write("a: &a [*a]\n")
    assert " error MC007: " in only(path) or " error MC003: " in only(path)


def test_merge_keys_and_tags_are_reported(write):
    path = write(HEADER + "base: &b {x: 1}\nspec:\n  <<: *b\n")
    assert " error MC003: YAML merge keys" in only(path)
    path = write(HEADER + "spec: !!binary aGVsbG8=\n", "tagged.yaml")
    assert " error MC003: unsupported YAML tag" in only(path)


def test_non_utf8(write):
    path = write(HEADER.encode() + b"spec:\n  services:\n    - name: caf\xe9\n")
    assert only(path) == f"{path}:7:16: error MC002: file is not valid UTF-8 (byte 0xe9)"


def test_utf8_bom_is_accepted(write):
    path = write("\ufeff" + HEADER + "spec: {}\n")
    assert parse_mesh(load_spec(path)).metadata.name == "demo"


def test_missing_path(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert info.value.usage
    assert (
        info.value.diagnostics[0]
        .format()
        .startswith(f"{tmp_path / 'nope.yaml'}:1:1: error MC001: no such file")
    )


def test_directory_without_specs(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert info.value.usage and info.value.diagnostics[0].code == "MC001"


def test_very_large_file(write):
    path = write(HEADER + "spec: {}\n" + "#" * (64 * 1024 * 1024) + "\n")
    assert only(path) == (f"{path}:1:1: error MC008: file is 64.0 MiB; specs are limited to 64 MiB")


def test_errors_from_several_files_are_all_reported(tmp_path):
    (tmp_path / "a.yaml").write_text(HEADER + "spec: {services: [}\n")
    (tmp_path / "b.yaml").write_text(HEADER + "spec:\n  x: 1\n  x: 2\n")
    found = diagnostics(tmp_path)
    assert [f.split(": error ")[1][:5] for f in found] == ["MC003", "MC004"]


def test_directory_spec_is_merged_with_positions(tmp_path):
    (tmp_path / "a.yaml").write_text(HEADER + "spec:\n  services:\n    - name: a\n")
    (tmp_path / "b.yaml").write_text(HEADER + "spec:\n  services:\n    - name: b\n      nam: x\n")
    line = only(tmp_path)
    assert line.startswith(f"{tmp_path / 'b.yaml'}:8:7: error MC010: unknown field 'nam' in spec.services[1]")


def test_directory_spec_section_defined_twice(tmp_path):
    (tmp_path / "a.yaml").write_text(HEADER + "spec:\n  security: {mtls: STRICT}\n")
    (tmp_path / "b.yaml").write_text(HEADER + "spec:\n  security: {mtls: PERMISSIVE}\n")
    assert " error MC012: 'spec.security' is also defined in " in only(tmp_path)


CLI_CASES = {
    "malformed": (HEADER + "spec: [\n", "MC003"),
    "wrong-type": (HEADER + "spec:\n  services: 3\n", "MC009"),
    "unknown-field": (HEADER + "spec:\n  servics: []\n", "MC010"),
    "empty": ("", "MC006"),
    "duplicate-key": (HEADER + "spec: {}\nkind: Mesh\n", "MC004"),
    "two-documents": (HEADER + "spec: {}\n---\na: 1\n", "MC005"),
    "non-utf8": (b"apiVersion: \xff\n", "MC002"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
@pytest.mark.parametrize("command", ["validate", "compile"])
def test_cli_reports_bad_input_without_traceback(tmp_path, case, command):
    text, code = CLI_CASES[case]
    path = tmp_path / "mesh.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    args = [command, str(path)] + (["-o", str(out)] if command == "compile" else [])
    result = meshc(*args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}:" in result.stderr and f" error {code}: " in result.stderr
    assert not out.exists()  # never partial output
    result = meshc(*args, "--format", "json")
    payload = json.loads(result.stdout)
    assert payload["diagnostics"][0]["code"] == code
    assert set(payload["diagnostics"][0]) == {"file", "line", "column", "severity", "code", "message", "hint"}


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_cli_usage_errors_exit_2(tmp_path, make):
    target = tmp_path / "nothing-here"
    if make == "directory":
        target.mkdir()
    result = meshc("validate", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{target}:1:1: error MC001:" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: [*x]\n",
        "a: {b: *x}\n",
        "a: !!str 1\n",
        "<<: {a: 1}\n",
        "? a\n: b\n",
        "a:\n  - ? b\n",
        "a,*b: 1\n",
        "*x\n",
    ],
)
def test_anchors_tags_merges_and_complex_keys_take_the_careful_path(text: str) -> None:
    assert parse_fast(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "hosts: ['*.example.com']\n",
        "path: /a*b\n",
        "q: a?b\n",
        "m: a!b\n",
        "x: a&b\n",
        "l: a<<b\n",
        "k: 1\n",
    ],
)
def test_sigils_inside_plain_scalars_keep_the_fast_path(text: str) -> None:
    assert parse_fast(text) is not None


@pytest.mark.parametrize(
    "value", [{1.5: "a"}, {True: 1}, {"a": float("nan")}, {"a": [float("inf")]}, {"a": b"x"}]
)
def test_only_json_like_data_is_plain(value: object) -> None:
    assert not _plain(value)
    assert _plain({"a": [1, "b", None, True, 2.5, {"c": []}], 3: "x"})


def test_required_claims_that_istio_would_reject_are_refused(write):
    """An empty value list or a claim name with brackets, blanks or empty parts compiled to a DENY
    policy Istio rejects (`notValues: []`, `request.auth.claims[ro]le]`): the guard never landed
    while the spec said the route was protected. Each is refused where it is written."""
    spec = HEADER + (
        "spec:\n"
        "  services: [{ name: web, ports: [{ port: 80, protocol: http }] }]\n"
        "  gateways:\n"
        "    - name: pub\n"
        "      hosts: [a.example.com]\n"
        "      servers: [{ port: 80, protocol: http }]\n"
        "      jwt: { issuer: https://id.example.com, jwksUri: https://id.example.com/jwks }\n"
        "      routes:\n"
        "        - to: { service: web }\n"
        '          requireClaims: { role: [], "ro]le": [x], "a..b": [y], "": [z], ok: [""] }\n'
    )
    found = diagnostics(write(spec))
    assert [line.split(": error MC013: ")[1].split(":")[0] for line in found] == [
        "spec.gateways[0].routes[0].requireClaims.role",
        "spec.gateways[0].routes[0].requireClaims.ro]le",
        "spec.gateways[0].routes[0].requireClaims.a..b",
        "spec.gateways[0].routes[0].requireClaims.",
        "spec.gateways[0].routes[0].requireClaims.ok[0]",
    ]


def test_injection_and_alert_settings_that_would_break_at_run_time_are_refused(write):
    """These compiled with exit 0 into an image `a b/proxyv2:x y`, an istiod address with a blank,
    an istio-init range that is no range, and alert rules promtool rejects or whose labels replaced
    meshc's own. Each is refused where it is written, its case kept in the message."""
    spec = HEADER + (
        "spec:\n"
        '  sidecarInjector: { hub: "a b", tag: "x y", revisions: ["bad rev!"], includeIPRanges: [nope] }\n'
        "  observability:\n"
        "    slo: { alertLabels: { page: { a-b: x }, ticket: { alertname: y } } }\n"
        "  services:\n"
        "    - name: web\n"
        "      ports: [{ port: 80, protocol: http }]\n"
        "      versions: [{ name: v1, image: nginx }]\n"
        "      slo: { availability: 99.9, alert: { labels: { __name__: z } } }\n"
    )
    found = diagnostics(write(spec))
    where = [line.split(": error MC013: ")[1].split(": ")[0] for line in found]
    assert where == [
        "spec.sidecarInjector.hub",
        "spec.sidecarInjector.tag",
        "spec.sidecarInjector.revisions[0]",
        "spec.sidecarInjector.includeIPRanges[0]",
        "spec.observability.slo.alertLabels.page.a-b",
        "spec.observability.slo.alertLabels.ticket",
        "spec.services[0].slo.alert.labels",
    ]
    assert "'nope' is not an IP range in CIDR form" in found[3]
    assert "label 'alertname' is meshc's own" in found[5]
    assert "[A-Za-z0-9_]" in found[1]  # patterns keep their case
