"""Errors from CUE become diagnostics at the user's file and line (MC014); no toolchain is MC015, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cue_helpers import REPO, _pin_wasm, line_of, meshc, needs_cue, write

from meshc.spec.cue import generate
from meshc.spec.cue.spec import load_cue_sources
from meshc.spec.diagnostics import SpecError
from meshc.spec.loader import load_spec
from meshc.spec.structure import parse_mesh

__all__ = ["_pin_wasm"]

HEAD = 'apiVersion: "meshc.dev/v1alpha1"\nkind:       "Mesh"\nmetadata: name: "demo"\n'

CASES = {
    "conflict": (
        HEAD + 'spec: security: mtls: "STRICT"\nspec: security: mtls: "PERMISSIVE"\n',
        ('mtls: "PERMISSIVE"', 23),
        'spec.security.mtls: conflicting values "PERMISSIVE" and "STRICT"',
    ),
    "out-of-bound": (
        '#Port: {port: int & >=1 & <=65535, protocol: *"http" | "grpc"}\n\n'
        + HEAD
        + 'spec: services: [{\n\tname: "a"\n\tports: [#Port & {port: 70000}]\n}]\n',
        ("port: 70000", 25),
        "spec.services[0].ports[0].port: invalid value 70000 (out of bound <=65535)",
    ),
    "incomplete": (
        "#Svc: {name: string, team: string, ...}\n\n"
        + HEAD
        + 'spec: services: [\n\t#Svc & {name: "a", team: "x"},\n\t#Svc & {name: "b"},\n]\n',
        ('#Svc & {name: "b"}', 2),
        "spec.services[1].team: incomplete value string",
    ),
    "syntax": (HEAD + "spec: {\n\tservices: [\n}\n", ("}", 1), None),
}


@needs_cue
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_reports_cue_errors_at_the_users_line(tmp_path: Path, case: str) -> None:
    text, (needle, column), message = CASES[case]
    spec = write(tmp_path / "x.cue", text)
    result = meshc("validate", "x.cue", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    first = result.stderr.splitlines()[0]
    line = line_of(text, needle, occurrence=text.count(needle))
    assert first.startswith(f"x.cue:{line}:{column}: error MC014: "), first
    if message is not None:
        assert first.endswith(message), first
    else:
        assert "expected" in first  # CUE's parser message
    assert spec.exists()


@needs_cue
def test_json_diagnostics_and_compile_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "x.cue", CASES["conflict"][0])
    result = meshc("compile", "x.cue", "-o", "out", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    (d,) = json.loads(result.stdout)["diagnostics"]
    assert (d["file"], d["line"], d["code"]) == ("x.cue", 5, "MC014")
    assert not (tmp_path / "out").exists()


def test_missing_toolchain_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    write(tmp_path / "x.cue", CASES["conflict"][0])
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "CUE_EXE": "", "MESHC_CUE_TOOLCHAIN": ""}
    result = meshc("validate", "x.cue", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("x.cue:1:1: error MC015: CUE toolchain unavailable: ")
    assert "npm ci" in result.stderr and "CUE_EXE" in result.stderr and "hint:" in result.stderr


def test_missing_toolchain_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshc.spec.cue import discovery

    write(tmp_path / "x.cue", HEAD)
    monkeypatch.delenv("CUE_EXE", raising=False)
    monkeypatch.delenv("MESHC_CUE_TOOLCHAIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(discovery, "_PROJECT_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec("x.cue")
    assert info.value.usage
    (d,) = info.value.diagnostics
    assert (d.code, d.file, d.line) == ("MC015", "x.cue", 1)
    assert d.hint is not None and "npm ci" in d.hint


@needs_cue
def test_imported_definitions_reject_unknown_fields_at_the_users_line(tmp_path: Path) -> None:
    # A user's CUE module vendoring the definitions (`python -m meshc.spec.cue.generate --vendor`).
    write(tmp_path / "cue.mod" / "module.cue", 'module: "example.com/platform"\n')
    assert generate.main(["--vendor", str(tmp_path)]) == 0
    assert (tmp_path / "cue.mod" / "pkg" / "meshc.dev" / "spec" / "schema.cue").read_text() == (
        generate.SCHEMA_CUE.read_text()
    )
    text = (
        'package mesh\n\nimport "meshc.dev/spec:meshc"\n\nmeshc.#Mesh & {\n'
        '\tapiVersion: "meshc.dev/v1alpha1"\n\tkind: "Mesh"\n\tmetadata: name: "demo"\n'
        '\tspec: services: [{name: "a", ports: [{port: 8080, protocl: "http"}]}]\n}\n'
    )
    write(tmp_path / "spec" / "mesh.cue", text)
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec")
    (d,) = info.value.diagnostics
    assert d.code == "MC014"
    assert d.file == str(tmp_path / "spec" / "mesh.cue")
    assert (d.line, d.column) == (9, text.splitlines()[8].index("protocl") + 1)
    assert d.message == "spec.services[0].ports[0]: field protocl not allowed"
    # fixed, it loads; CUE leaves out what the spec leaves out (no defaults are added)
    write(tmp_path / "spec" / "mesh.cue", text.replace("protocl", "protocol"))
    data = load_spec(tmp_path / "spec").data
    assert data["spec"] == {"services": [{"name": "a", "ports": [{"port": 8080, "protocol": "http"}]}]}


@needs_cue
def test_package_directory_positions_name_the_right_file(tmp_path: Path) -> None:
    write(tmp_path / "spec" / "a.cue", "package mesh\n\n" + HEAD)
    b = (
        "package mesh\n\n"
        "spec: services: [\n"
        '\t{name: "web", ports: [{port: 8080, protocol: "http"}], calls: [{service: "api"}]},\n'
        '\t{name: "db", ports: [{port: "5432"}]},\n'
        "]\n"
    )
    write(tmp_path / "spec" / "b.cue", b)
    with pytest.raises(SpecError) as info:
        parse_mesh(load_spec(str(tmp_path / "spec")))
    (d,) = info.value.diagnostics
    assert d.code == "MC009"  # from the models: CUE is happy with a string
    assert (d.file, d.line) == (str(tmp_path / "spec" / "b.cue"), 5)
    assert d.column == b.splitlines()[4].index("port:") + 1


@needs_cue
def test_sources_held_in_memory(tmp_path: Path) -> None:
    # as `meshc diff|plan` would hand them over, read from a git revision
    text = CASES["conflict"][0]
    with pytest.raises(SpecError) as info:
        load_cue_sources([("specs/x.cue", text.encode())], "specs/x.cue")
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.code) == ("specs/x.cue", 5, "MC014")
    ok = text.replace('spec: security: mtls: "PERMISSIVE"\n', "")
    files = [
        ("dir/a.cue", b"package x\n" + ok.encode()),
        ("dir/b.cue", b"package x\nspec: services: [{name: 1}]\n"),
    ]
    loaded = load_cue_sources(files, "dir")
    assert loaded.data["spec"]["services"] == [{"name": 1}]
    assert loaded.source.position(("spec", "services", 0, "name")) == ("dir/b.cue", 2, 19)
    assert loaded.source.position(("metadata", "name")) == ("dir/a.cue", 4, 11)
    assert os.listdir(tmp_path) == []


def test_repo_root_is_where_the_examples_are() -> None:
    assert (REPO / "examples" / "policies").is_dir()
