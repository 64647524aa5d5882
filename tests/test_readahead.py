"""A big spec parsed by a forked child while the build cache is opened (`compiler/readahead.py`,
issue 17): whatever the file holds, the result is exactly what `load_spec` gives (the same data,
the same positions, the same diagnostics), and the child is always reaped."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import valid_specs

from meshc.compiler import cli, readahead, units, workers
from meshc.spec.diagnostics import SpecError
from meshc.spec.loader import load_spec

REPO = Path(__file__).resolve().parent.parent
linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux: fork")


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spec file is big enough, and forking is allowed (the test runner has threads); the
    services are handed over two by two, so that every spec with three or more comes in batches."""
    monkeypatch.setattr(readahead, "AHEAD_BYTES", 1)
    monkeypatch.setattr(workers, "can_fork", lambda: True)
    monkeypatch.setattr(units, "HANDOVER_BATCH", 2)


def loaded_both_ways(path: Path) -> tuple[Any, Any]:
    """(`load_spec`'s result or SpecError's diagnostics, the same through `readahead`)."""

    def outcome(load: Any) -> Any:
        try:
            spec = load()
        except SpecError as exc:
            return ("error", exc.diagnostics)
        first = spec.source.files[0]
        return ("ok", spec.data, [type(v) for v in spec.data.values()], first.name, first.locate(("spec",)))

    early = readahead.start(str(path))
    assert early is not None
    return outcome(lambda: load_spec(str(path))), outcome(early.load)


@linux
@pytest.mark.parametrize(
    "example", sorted(p.name for p in (REPO / "examples").iterdir() if (p / "mesh.yaml").is_file())
)
def test_every_example_loads_as_load_spec_loads_it(ahead, example: str) -> None:
    plain, early = loaded_both_ways(REPO / "examples" / example / "mesh.yaml")
    assert early == plain


@linux
@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors: the careful path reports them
        "a: !!str 1\n",  # a tag
        "- 1\n- 2\n",  # not a mapping
        "a: [1, 2\n",  # broken YAML
        "a: .nan\n",  # not finite: the careful path decides
        "a: 1\na: 2\n",  # a key twice
        "# only a comment\n",  # no document
    ],
)
def test_what_the_fast_path_refuses_goes_the_usual_way(ahead, tmp_path: Path, text: str) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(text)
    plain, early = loaded_both_ways(spec)
    assert early == plain


def test_a_file_that_is_not_utf8_is_left_to_load_spec(ahead, tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_bytes(b"a: \xff\n")
    assert readahead.start(str(spec)) is None
    assert readahead.start(str(tmp_path)) is None  # a directory
    assert readahead.start(str(tmp_path / "missing.yaml")) is None


@linux
def test_a_failed_child_leaves_the_parse_to_this_process(ahead, tmp_path: Path, monkeypatch) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text("apiVersion: x\nspec: {services: []}\n")

    def broken(text: str, send: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(readahead, "_parsed", broken)
    early = readahead.start(str(spec))
    assert early is not None
    assert early.load().data == load_spec(str(spec)).data


@linux
def test_a_child_killed_while_handing_back_leaves_the_parse_to_this_process(ahead, tmp_path: Path) -> None:
    """The child's report of a big spec fills the pipe until `load` reads it; killed meanwhile
    (out of memory), its report is truncated: the spec is parsed here, as without the child."""
    import signal
    import time

    spec = tmp_path / "mesh.yaml"
    services = "".join(f"    - name: s{i}\n      namespace: n{i % 10}\n" for i in range(3000))
    spec.write_text(f"apiVersion: x\nspec:\n  services:\n{services}")
    early = readahead.start(str(spec))
    assert early is not None and not early.work.joined
    time.sleep(0.5)  # the child is blocked writing into the full pipe
    os.kill(early.work.pid, signal.SIGKILL)
    assert early.load().data == load_spec(str(spec)).data
    assert early.work.joined


@linux
def test_an_interruption_while_the_batches_come_ends_and_reaps_the_child(
    ahead, tmp_path: Path, monkeypatch
) -> None:
    """Ctrl-C while this process validates the batches the child still sends: the interruption
    goes on (the command ends), and the child, blocked on its full pipe, is ended and reaped,
    not left behind."""
    from meshc.spec import structure

    spec = tmp_path / "mesh.yaml"
    services = "".join(f"    - name: s{i}\n      namespace: n{i % 10}\n" for i in range(3000))
    spec.write_text(
        f"apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {{name: m}}\nspec:\n  services:\n{services}"
    )
    seen = []

    def interrupted(json: bytes) -> None:
        seen.append(json)
        raise KeyboardInterrupt

    monkeypatch.setattr(structure, "validate_services", interrupted)
    early = readahead.start(str(spec))
    assert early is not None
    with pytest.raises(KeyboardInterrupt):
        early.load()
    assert len(seen) == 1 and early.work.joined
    with pytest.raises(ChildProcessError):
        os.waitpid(early.work.pid, os.WNOHANG)  # reaped already


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)


@contextmanager
def _spec_read_ahead(text: str) -> Iterator[Path]:
    """A spec file holding `text` in a temporary folder, read ahead whatever its size (for the
    tests under `given`, which cannot take the `ahead` fixture)."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as m:
        m.setattr(readahead, "AHEAD_BYTES", 1)
        m.setattr(workers, "can_fork", lambda: True)
        m.setattr(units, "HANDOVER_BATCH", 2)
        path = Path(folder) / "mesh.yaml"
        path.write_text(text)
        yield path


@linux
@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), plain_values, min_size=1, max_size=5))
def test_generated_documents_load_alike(data: dict[str, Any]) -> None:
    with _spec_read_ahead(yaml.safe_dump(data, allow_unicode=True)) as spec:
        plain, early = loaded_both_ways(spec)
        assert early == plain
        if plain[0] == "ok":
            assert _same_types(plain[1], early[1])


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same_types, a, b))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


# --- in the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def started(ahead, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[readahead.ReadAhead | None]:
    """The read-aheads the CLI starts (with its own build cache)."""
    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    found: list[readahead.ReadAhead | None] = []
    real = readahead.start

    def start(spec: str) -> readahead.ReadAhead | None:
        found.append(real(spec))
        return found[-1]

    monkeypatch.setattr(readahead, "start", start)
    return found


@linux
def test_a_compile_reads_ahead_and_writes_the_same_output(started, tmp_path, capsys) -> None:
    """With a pack or without one yet (the compiler's imports run beside the parse then), and
    never with --no-cache; the output is that of a compile without the read-ahead."""
    spec = tmp_path / "mesh.yaml"
    spec.write_text((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    assert cli.main(["compile", str(spec), "-o", str(tmp_path / "a")]) == 0
    assert len(started) == 1 and started[0] is not None and started[0].work.joined  # no pack yet
    assert cli.main(["compile", str(spec), "-o", str(tmp_path / "b"), "--timings"]) == 0
    assert len(started) == 2 and started[1] is not None and started[1].work.joined  # reaped
    assert "  load " in capsys.readouterr().err
    assert cli.main(["compile", str(spec), "-o", str(tmp_path / "c"), "--no-cache"]) == 0
    assert len(started) == 2
    for name in sorted(os.listdir(tmp_path / "c")):
        if (tmp_path / "c" / name).is_file():
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
            assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    assert sorted(os.listdir(tmp_path / "a")) == sorted(os.listdir(tmp_path / "c"))
    assert sorted(os.listdir(tmp_path / "b")) == sorted(os.listdir(tmp_path / "c"))


@linux
def test_a_rejected_spec_read_ahead_is_reported_as_without_and_reaped(started, tmp_path, capsys) -> None:
    spec = tmp_path / "mesh.yaml"
    good = (REPO / "examples" / "bookinfo" / "mesh.yaml").read_text()
    spec.write_text(good)
    assert cli.main(["compile", str(spec), "-o", "-"]) == 0
    capsys.readouterr()
    spec.write_text(good.replace("apiVersion:", "apiVersoin:", 1))
    code = cli.main(["compile", str(spec), "-o", "-"])
    with_ahead = capsys.readouterr().err
    assert started and started[-1] is not None and started[-1].work.joined
    assert cli.main(["compile", str(spec), "-o", "-", "--no-cache"]) == code == 1
    assert capsys.readouterr().err == with_ahead
    assert "MC010" in with_ahead


@linux
def test_validate_reads_ahead_and_says_the_same(started, tmp_path, capsys) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    assert cli.main(["validate", str(spec), "--format", "json", "--no-cache"]) == 0
    assert started == []
    plain = capsys.readouterr().out
    for n in (1, 2):  # without a pack yet, then with one
        assert cli.main(["validate", str(spec), "--format", "json"]) == 0
        assert len(started) == n and started[-1] is not None and started[-1].work.joined
        assert capsys.readouterr().out == plain


@linux
def test_the_child_hands_back_the_services_digests_the_keys_are_made_of(ahead) -> None:
    from meshc.compiler import pipeline, units

    path = REPO / "examples" / "bookinfo" / "mesh.yaml"
    early = readahead.start(str(path))
    assert early is not None
    loaded = early.load()
    plain = load_spec(str(path))
    assert plain.digests is None
    assert loaded.digests is not None and loaded.digests == units.service_digests(plain.data)
    parsed = pipeline.parse(path, loaded=loaded)
    keys = units.loaded_unit_keys(loaded, parsed.index)
    assert loaded._data is None  # keyed without making the data (from `outside_services`)
    assert keys is not None and keys == units.unit_keys(plain.data, parsed.index)
    assert units.unit_keys(loaded.data, parsed.index, loaded.digests) == units.unit_keys(
        plain.data, parsed.index
    )
    # digests that do not match the list (another spec's) are not used
    wrong = loaded.digests[:-1]
    assert units.unit_keys(loaded.data, parsed.index, wrong) == units.unit_keys(plain.data, parsed.index)


_PROBE = """
import json, sys
from meshc.compiler import cli, readahead
readahead.AHEAD_BYTES = 1
seen = []
real = readahead.start
def start(spec):
    seen.append(sorted(m for m in sys.modules if m.startswith(("pydantic", "meshc"))))
    return real(spec)
readahead.start = start
code = cli.main(["compile", sys.argv[1], "-o", sys.argv[2]])
print(json.dumps({"code": code, "seen": seen}))
"""


@linux
def test_the_child_is_forked_before_the_compiler_is_imported(tmp_path: Path) -> None:
    """The read-ahead starts before the command imports the compiler and the models (~0.15 s at
    start-up), so that the child parses while this process imports and opens the build cache:
    a one-service recompile at 10,000 services took ~0.15 s less."""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(REPO), MESHC_CACHE_DIR=str(tmp_path / "cache"))
    spec, out = str(REPO / "examples/bookinfo/mesh.yaml"), str(tmp_path / "out")
    runs = []
    for _ in range(2):  # the first compile writes the pack (it reads ahead too); the second reads it
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, spec, out], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [r["code"] for r in runs] == [0, 0]
    for run in runs:
        [modules] = run["seen"]
        assert "meshc.spec.loader" in modules  # what the child runs is there
        imported_too_early = [
            m
            for m in modules
            if m.startswith(
                ("pydantic", "meshc.spec.models", "meshc.compiler.pipeline", "meshc.compiler.emit")
            )
        ]
        assert imported_too_early == []


# --- the models validated from the JSON the child hands back -----------------------------------------


def _deep(value: Any) -> Any:
    """A model tree as plain values, with the fields each model was given (`model_fields_set`:
    rules tell a value written from a default by it)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        fields = {k: _deep(getattr(value, k)) for k in type(value).model_fields}
        return (type(value).__name__, sorted(value.model_fields_set), fields, _deep(value.__pydantic_extra__))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_deep(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(_deep(k), _deep(v)) for k, v in value.items()])
    return (type(value).__name__, value)


def _validated_both_ways(path: Path) -> tuple[Any, Any, Any]:
    """(the models of `load_spec`'s data or the diagnostics, the same from the read-ahead, the
    read-ahead's `LoadedSpec`)."""
    from meshc.spec.structure import parse_mesh

    def outcome(loaded: Any) -> Any:
        try:
            return _deep(parse_mesh(loaded))
        except SpecError as exc:
            return exc.diagnostics

    early = readahead.start(str(path))
    assert early is not None
    loaded = early.load()
    return outcome(load_spec(str(path))), outcome(loaded), loaded


SPECS = sorted(
    [*(REPO / "examples").glob("*/mesh.yaml"), *(REPO / "tests" / "rules" / "fixtures").glob("*/*.yaml")]
)


@linux
@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_models_validated_from_the_json_handed_back_are_the_datas(ahead, path: Path) -> None:
    """pydantic validates JSON in its own mode: for every example and rule fixture, the models it
    makes of the child's JSON are those of the data, with the same fields set; a spec it rejects
    gets the diagnostics of the data (validated again from it)."""
    plain, early, loaded = _validated_both_ways(path)
    assert early == plain
    if loaded.json is not None:  # what the fast path takes (an anchor, say, goes the careful way)
        assert loaded.outside_services is not None


@linux
@settings(max_examples=40, deadline=None)
@given(valid_specs())
def test_generated_specs_validate_alike_from_the_json(spec: dict[str, Any]) -> None:
    """Both ways the read-ahead's models are made: the services validated batch by batch as they
    came and the rest around them, or (a batch rejected) the whole from the JSON."""
    from meshc.spec.structure import parse_mesh

    with _spec_read_ahead(yaml.safe_dump(spec, sort_keys=False)) as path:
        plain, early, loaded = _validated_both_ways(path)
        assert loaded.json is not None and loaded._data is None
        assert loaded.services is not None
        assert early == plain
        assert _deep(parse_mesh(dataclasses.replace(loaded, services=None))) == plain


def _mesh_file(folder: Path, spec: dict[str, Any]) -> Path:
    """`folder`/mesh.yaml: a mesh named m whose `spec` is `spec`."""
    path = folder / "mesh.yaml"
    document = {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "m"}, "spec": spec}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@linux
@pytest.mark.parametrize("bad", [0, 2, 4])
def test_a_service_rejected_in_any_batch_gets_the_usual_diagnostics(ahead, tmp_path: Path, bad: int) -> None:
    """A service that its batch's validation rejects (in the first batch or a later one) leaves
    the spec to be validated whole: the diagnostics are those `load_spec`'s data gets."""
    services = [{"name": f"s{i}", "ports": [{"port": 80}]} for i in range(5)]
    services[bad]["ports"] = [{"port": "eighty"}]
    plain, early, loaded = _validated_both_ways(_mesh_file(tmp_path, {"services": services}))
    assert loaded.json is not None and loaded.services is None
    assert isinstance(plain, list) and plain and early == plain


@linux
def test_services_accepted_around_a_rejected_rest_get_the_usual_diagnostics(ahead, tmp_path: Path) -> None:
    """Every batch of services validates, but the spec around them does not (a gateway with an
    unknown field): the whole is validated as usual, and the diagnostics are `load_spec`'s."""
    services = [{"name": f"s{i}", "ports": [{"port": 80}]} for i in range(5)]
    gateways = [{"name": "edge", "hostz": ["a.example.com"]}]  # an unknown field
    spec = _mesh_file(tmp_path, {"gateways": gateways, "services": services})
    plain, early, loaded = _validated_both_ways(spec)
    assert loaded.services is not None and len(loaded.services) == 5  # the batches all passed
    assert isinstance(plain, list) and plain and early == plain
    assert any(d.code == "MC010" or "hostz" in d.message for d in plain)


@linux
@pytest.mark.parametrize(
    "where",
    ["spec:\n  1: one\n", "spec:\n  services:\n  - name: a\n    labels: {1: one}\n"],
    ids=["in-spec", "in-a-service"],
)
def test_data_that_is_not_plain_json_is_handed_back_as_data(ahead, tmp_path: Path, where: str) -> None:
    """A key that is a number has no JSON of its own (JSON would make it a string), whether the
    spec's own or one deep in a service: the child hands back the data itself, as `load_spec`
    loads it."""
    spec = tmp_path / "mesh.yaml"
    spec.write_text("apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {name: m}\n" + where)
    plain, early, loaded = _validated_both_ways(spec)
    assert loaded.json is None and loaded.data == load_spec(str(spec)).data
    assert early == plain


@linux
def test_a_compile_from_the_json_never_makes_the_data(ahead, tmp_path: Path, monkeypatch) -> None:
    """The point of the JSON: a recompile with the build cache validates, keys, checks and writes
    without the data (0.1 s and ~55 MB at 10,000 services): nothing on that path asks for it."""
    from meshc.compiler import buildcache, parallel

    monkeypatch.setenv("MESHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(parallel, "PARALLEL_SERVICES", 1)  # the rules forked beside, as at scale
    spec = tmp_path / "mesh.yaml"
    spec.write_text((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    out = tmp_path / "out"
    for _ in range(2):
        early = readahead.start(str(spec))
        assert early is not None
        loaded = early.load()
        parallel.run(str(spec), loaded=loaded, schemas=False, output=out, cache=buildcache.open_cache(spec))
        assert loaded.json is not None and loaded._data is None
    expected = tmp_path / "expected"
    assert cli.main(["compile", str(spec), "-o", str(expected), "--no-cache"]) == 0
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        p.name: p.read_bytes() for p in expected.rglob("*") if p.is_file()
    }


# --- the wait for the child, used ----------------------------------------------------------------------


def test_warm_up_stops_as_soon_as_the_child_is_ready(monkeypatch) -> None:
    """`pipeline.warm_up` does the start-up work a compile would do later (the models' validator,
    the verifier's and self-check's modules) one step at a time, only while `done()` is false: a
    child that is ready is never kept waiting for more than the step under way."""
    from meshc.compiler import pipeline

    ran: list[str] = []
    steps = tuple(partial(ran.append, name) for name in ("models", "verifier", "self-check"))
    monkeypatch.setattr(pipeline, "WARM_UPS", steps)
    pipeline.warm_up(lambda: True)
    assert ran == []
    answers = iter([False, True])
    pipeline.warm_up(lambda: next(answers))
    assert ran == ["models"]
    ran.clear()
    pipeline.warm_up(lambda: False)
    assert ran == ["models", "verifier", "self-check"]


def test_the_warm_ups_are_what_a_compile_does_anyway() -> None:
    """Each warm-up leaves what the compile would otherwise make on its first validation,
    verification and self-check (in a fresh process: this one has them all already)."""
    import subprocess

    probe = (
        "import sys\n"
        "from meshc.compiler import pipeline\n"
        "from meshc.spec.models import Mesh\n"
        "later = ('meshc.compiler.verify.check', 'meshc.compiler.selfcheck.check')\n"
        "assert not any(m in sys.modules for m in later) and not Mesh.__pydantic_complete__\n"
        "pipeline.warm_up(lambda: False)\n"
        "assert all(m in sys.modules for m in later)\n"
        "assert Mesh.__pydantic_complete__\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


@linux
def test_ready_says_whether_load_would_wait(ahead, tmp_path: Path) -> None:
    import time

    spec = tmp_path / "mesh.yaml"
    spec.write_text((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    early = readahead.start(str(spec))
    assert early is not None
    deadline = time.monotonic() + 30
    while not early.ready():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert early.ready()  # and it stays so
    assert early.load().data == load_spec(str(spec)).data
    assert early.ready()  # joined: nothing left to wait for


@linux
def test_a_compile_started_with_descriptors_beyond_select_s_reach(tmp_path: Path) -> None:
    """A parent that leaks descriptors (or a high `ulimit -n`) starts meshc with 3..1100 open: the
    read-ahead's pipe is numbered beyond what `select` takes, and asking whether the child is
    ready must not fail (it did: an internal error, exit 3)."""
    import resource
    import subprocess

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("the hard limit on descriptors is below 1,200")
    spec = tmp_path / "mesh.yaml"
    spec.write_text((REPO / "examples" / "bookinfo" / "mesh.yaml").read_text())
    probe = (
        "import os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1200, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "null = os.open(os.devnull, os.O_RDONLY)\n"
        "for fd in range(3, 1101):\n"
        "    if fd != null:\n"
        "        os.dup2(null, fd)\n"
        "from meshc.compiler import cli, readahead, units\n"
        "readahead.AHEAD_BYTES = 1\n"
        "units.HANDOVER_BATCH = 2\n"
        f"sys.exit(cli.main(['compile', {str(spec)!r}, '-o', {str(tmp_path / 'out')!r}]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(REPO), MESHC_CACHE_DIR=str(tmp_path / "cache"))
    for _ in range(2):  # the second compile reads the pack while the child parses: `ready` asked
        run = [sys.executable, "-c", probe]
        done = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").is_dir()


JSON_LIKE_PYTHON = frozenset(
    {
        "model",
        "model-fields",
        "model-field",
        "definitions",
        "definition-ref",
        "default",
        "nullable",
        "union",
        "tagged-union",
        "literal",
        "str",
        "int",
        "float",
        "bool",
        "none",
        "any",
        "list",
        "dict",
        "function-after",
        "function-wrap",
        "no-info",
        "with-info",
    }
)
"""The core schema types pydantic validates from JSON exactly as from the plain data YAML gives, in
strict mode (the models' `strict=True`)."""


def test_the_models_hold_only_types_validated_from_json_as_from_data() -> None:
    """pydantic's JSON mode is laxer than its strict Python mode for some types: a JSON string
    passes for an enum, a date, a UUID, bytes or a decimal, an array for a tuple or a set, a
    string key for an integer key. A field of such a type would let a spec pass from the
    read-ahead's JSON that fails from its data. The models hold none; this fails when one is
    added (then validate the read-ahead's spec from the data, `LoadedSpec.data`)."""
    from meshc.spec.models import Mesh

    Mesh.model_rebuild()
    found: set[str] = set()
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                found.add(node["type"])
                if node["type"] == "dict":
                    keys.add(node["keys_schema"]["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(Mesh.__pydantic_core_schema__)
    assert found - JSON_LIKE_PYTHON == set()
    assert keys == {"str"}
    assert {"model", "str", "int", "list", "dict"} <= found  # the walk saw the schema


def _handed_over_apart(data: dict[str, Any]) -> Any:
    from meshc.compiler import units

    return orjson.dumps(data), units.service_digests(data), units.outside_services(data)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_handover_is_the_json_digests_and_keys_part_worked_out_apart(path: Path) -> None:
    """`units.handover` puts the JSON together from each service's (dumped once, for its digest
    too): byte for byte what dumping the data, `service_digests` and `outside_services` give."""
    from meshc.compiler import units

    try:
        data = load_spec(str(path)).data
    except SpecError:
        return
    found = units.handover(data)
    if found is not None:
        assert found == _handed_over_apart(data)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(max_size=5), plain_values, max_size=3),
    st.dictionaries(st.text(max_size=5), plain_values, max_size=3),
    st.lists(st.dictionaries(st.text(max_size=5), plain_values, max_size=3), max_size=4),
    st.integers(min_value=0, max_value=3),
)
def test_generated_handovers_are_the_parts_worked_out_apart(top, inner, services, at) -> None:
    from meshc.compiler import units

    spec = {**inner}
    spec.pop("services", None)
    fields = list(spec.items())
    fields.insert(min(at, len(fields)), ("services", services))  # anywhere among the spec's keys
    data = {**{k: v for k, v in top.items() if k != "spec"}, "spec": dict(fields)}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(units, "HANDOVER_BATCH", 1 + at % 2)  # one service a batch, or two
        found = units.handover(data)
    try:
        apart = _handed_over_apart(data)
    except orjson.JSONEncodeError:
        assert found is None  # not plain JSON as it is (an integer beyond 64 bits)
        return
    assert found is None or found == apart
    assert found is not None or any(p is None for p in apart[1:])
