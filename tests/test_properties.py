"""Properties over generated valid specs (hypothesis), for what the example tests check on one spec:

* spec-order independence: services, calls, egress entries and their callers, methods and paths
  are sets written as lists; shuffling them gives byte-identical output (an egress entry's `hosts`
  are not shuffled: their order is kept in the ServiceEntry, as written);
* byte-identical re-runs, in this process and in a fresh one with another string-hash seed;
* the schema round trip: the model dumped by alias validates against `mesh_spec/mesh.schema.json`
  and parses back to an equal model.

The strategy builds specs the rules accept (names resolve, splits add up to 100); the examples are
added as explicit cases of the round trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshc.compiler.emit import dump_stream
from meshc.compiler.pipeline import parse, run
from meshc.spec.loader import load_sources
from meshc.spec.models import Mesh

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*/mesh.yaml"))
PROPERTIES = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

NAMESPACES = ("team-a", "team-b")
METHODS = ("GET", "POST", "PUT", "DELETE")
PATHS = ("/", "/a", "/b/*", "/c/d")
HOSTS = ("api.example.com", "mail.example.org", "files.example.net")


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A mesh of 2-6 services in two namespaces, HTTP or TCP, one or two versions (maybe split),
    calls between them (HTTP ones maybe narrowed to methods and paths), and egress to a few hosts."""
    names = [f"svc-{i}" for i in range(draw(st.integers(2, 6)))]
    http = {name: draw(st.booleans()) for name in names}
    services = []
    for name in names:
        port = draw(st.sampled_from((8080, 9080))) if http[name] else 9000
        versions = ["v1", "v2"] if draw(st.booleans()) else ["v1"]
        service: dict[str, Any] = {
            "name": name,
            "namespace": draw(st.sampled_from(NAMESPACES)),
            "ports": [{"port": port, "protocol": "http" if http[name] else "tcp"}],
            "versions": [{"name": v, "image": f"registry.example.com/{name}:{v}"} for v in versions],
        }
        if len(versions) == 2 and draw(st.booleans()):
            weight = draw(st.integers(0, 100))
            service["traffic"] = {"split": {"v1": weight, "v2": 100 - weight}}
        calls = []
        for callee in draw(
            st.lists(st.sampled_from([n for n in names if n != name]), unique=True, max_size=3)
        ):
            call: dict[str, Any] = {"service": callee}
            if http[callee] and draw(st.booleans()):
                call["methods"] = draw(
                    st.lists(st.sampled_from(METHODS), unique=True, min_size=1, max_size=3)
                )
            if http[callee] and draw(st.booleans()):
                call["paths"] = draw(st.lists(st.sampled_from(PATHS), unique=True, min_size=1))
            calls.append(call)
        if calls:
            service["calls"] = calls
        services.append(service)
    egress = [
        {
            "name": f"ext-{i}",
            "hosts": draw(st.lists(st.sampled_from(HOSTS), unique=True, min_size=1, max_size=2)),
            "ports": [{"port": 443, "protocol": "tls"}],
            "callers": draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=3)),
        }
        for i in range(draw(st.integers(0, 2)))
    ]
    spec: dict[str, Any] = {"security": {"mtls": "STRICT"}, "services": services}
    if egress:
        spec["egress"] = _distinct_hosts(egress)
    return {"apiVersion": "meshc.dev/v1alpha1", "kind": "Mesh", "metadata": {"name": "gen"}, "spec": spec}


def _distinct_hosts(egress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One egress entry per host (two entries for one host are a conflict the rules refuse)."""
    seen: set[str] = set()
    out = []
    for entry in egress:
        hosts = [h for h in entry["hosts"] if h not in seen]
        seen.update(hosts)
        if hosts:
            out.append({**entry, "hosts": hosts})
    return out


def _shuffled(data: dict[str, Any], rng: Any) -> dict[str, Any]:
    """`data` with every list whose order carries no meaning in another order."""

    def mixed(items: list[Any]) -> list[Any]:
        items = list(items)
        rng.shuffle(items)
        return items

    spec = data["spec"]
    services = []
    for service in spec["services"]:
        calls = [
            {k: mixed(v) if k in ("methods", "paths") else v for k, v in call.items()}
            for call in service.get("calls", [])
        ]
        services.append({**service, **({"calls": mixed(calls)} if calls else {})})
    out_spec = {**spec, "services": mixed(services)}
    if "egress" in spec:
        out_spec["egress"] = mixed([{**e, "callers": mixed(e["callers"])} for e in spec["egress"]])
    return {**data, "spec": out_spec}


def _compiled(data: dict[str, Any]) -> str:
    text = yaml.safe_dump(data, sort_keys=False)
    return dump_stream(run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())])).manifests)


@PROPERTIES
@given(valid_specs(), st.randoms(use_true_random=False))
def test_the_order_of_sets_written_as_lists_does_not_change_the_output(
    data: dict[str, Any], rng: Any
) -> None:
    first = _compiled(data)
    assert _compiled(_shuffled(data, rng)) == first


@PROPERTIES
@given(valid_specs())
def test_a_rerun_gives_the_same_bytes(data: dict[str, Any]) -> None:
    assert _compiled(data) == _compiled(data)


def test_a_fresh_process_with_another_hash_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    """Set and dict iteration over strings changes with PYTHONHASHSEED; the output must not."""
    data = _big_spec()
    spec = tmp_path / "mesh.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-m", "meshc", "compile", str(spec), "-o", "-"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs == {_compiled(data)}


NARROW = {"methods": ["POST", "GET"], "paths": ["/b/*", "/a"]}


def _big_spec() -> dict[str, Any]:
    """One spec using every part of the strategy: calls with methods and paths, a split, egress."""
    services = [
        {
            "name": f"svc-{i}",
            "namespace": NAMESPACES[i % 2],
            "ports": [{"port": 8080, "protocol": "http"}] if i % 3 else [{"port": 9000, "protocol": "tcp"}],
            "versions": [{"name": "v1", "image": f"r/svc-{i}:1"}, {"name": "v2", "image": f"r/svc-{i}:2"}],
            "traffic": {"split": {"v1": 70, "v2": 30}},
            "calls": [
                {
                    "service": f"svc-{j}",
                    **({"methods": ["POST", "GET"], "paths": ["/b/*", "/a"]} if j % 3 else {}),
                }
                for j in range(6)
                if j != i
            ],
        }
        for i in range(6)
    ]
    egress = [
        {
            "name": "ext",
            "hosts": list(HOSTS),
            "ports": [{"port": 443, "protocol": "tls"}],
            "callers": ["svc-1"],
        }
    ]
    return {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "gen"},
        "spec": {"security": {"mtls": "STRICT"}, "services": services, "egress": egress},
    }


@cache
def _validator() -> Any:
    schema = json.loads((REPO / "mesh_spec" / "mesh.schema.json").read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema)


def _round_trip(mesh: Mesh) -> None:
    dumped = mesh.model_dump(mode="json", by_alias=True, exclude_none=True)
    _validator().validate(dumped)
    assert Mesh.model_validate(dumped) == mesh


@PROPERTIES
@given(valid_specs())
def test_the_model_dumped_by_alias_validates_against_the_schema_and_parses_back(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    _round_trip(parse("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())])).mesh)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_examples_round_trip_through_the_schema(path: Path) -> None:
    _round_trip(parse(path).mesh)
