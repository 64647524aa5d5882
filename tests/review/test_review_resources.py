"""Resource-level diff: identity, field paths, named-list pairing, and cost."""

from __future__ import annotations

import copy
import time
from typing import Any

from review_helpers import BOOKINFO, CANARY

from meshc.compiler.lower.common import Manifest
from meshc.compiler.pipeline import run
from meshc.compiler.review.resources import ResourceKey, diff_manifests
from meshc.spec.loader import load_sources


def m(
    kind: str, name: str, body: dict[str, Any], namespace: str | None = "ns", cluster: str | None = None
) -> Manifest:
    return Manifest(
        kind, namespace, name, {"kind": kind, "metadata": {"name": name}, **body}, cluster=cluster
    )


def compiled(text: str) -> list[Manifest]:
    return run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())])).manifests


def test_added_removed_changed_unchanged() -> None:
    base = [
        m("Service", "a", {"spec": {"x": 1}}),
        m("Service", "b", {"spec": {"x": 1}}),
        m("Namespace", "ns", {}, None),
    ]
    head = [
        m("Service", "a", {"spec": {"x": 2}}),
        m("Service", "c", {"spec": {"x": 1}}),
        m("Namespace", "ns", {}, None),
    ]
    d = diff_manifests(base, head)
    assert d.added == [ResourceKey("", "Service", "ns", "c")]
    assert d.removed == [ResourceKey("", "Service", "ns", "b")]
    assert [(c.key.name, [(f.path, f.op, f.before, f.after) for f in c.fields]) for c in d.changed] == [
        ("a", [("spec.x", "changed", 1, 2)])
    ]
    assert d.unchanged == 1 and d.total == 3


def test_field_paths_are_json_path_like() -> None:
    before = m(
        "VirtualService",
        "r",
        {
            "metadata": {"name": "r", "labels": {"app.kubernetes.io/name": "x", "keep": "y"}},
            "spec": {"http": [{"route": [{"weight": 100}, {"weight": 0}]}]},
        },
    )
    after = copy.deepcopy(before.body)
    after["spec"]["http"][0]["route"][1]["weight"] = 50
    after["metadata"]["labels"]["app.kubernetes.io/name"] = "z"
    del after["metadata"]["labels"]["keep"]
    after["spec"]["tcp"] = [{"route": []}]
    d = diff_manifests([before], [Manifest("VirtualService", "ns", "r", after)])
    fields = [(f.path, f.op) for f in d.changed[0].fields]
    assert fields == [
        ('metadata.labels["app.kubernetes.io/name"]', "changed"),
        ("metadata.labels.keep", "removed"),
        ("spec.http[0].route[1].weight", "changed"),
        ("spec.tcp[0].route", "added"),  # a small added value is listed leaf by leaf
    ]


def test_named_list_items_are_paired_by_name() -> None:
    before = m(
        "DestinationRule",
        "d",
        {"spec": {"subsets": [{"name": "v1", "labels": {"v": "1"}}, {"name": "v2", "labels": {"v": "2"}}]}},
    )
    after = m(
        "DestinationRule",
        "d",
        {
            "spec": {
                "subsets": [
                    {"name": "v0", "labels": {"v": "0"}},
                    {"name": "v1", "labels": {"v": "1"}},
                    {"name": "v2", "labels": {"v": "two"}},
                ]
            }
        },
    )
    d = diff_manifests([before], [after])
    assert [(f.path, f.op, f.after) for f in d.changed[0].fields] == [
        ("spec.subsets[0].labels.v", "added", "0"),
        ("spec.subsets[0].name", "added", "v0"),
        ("spec.subsets[2].labels.v", "changed", "two"),
    ]


def test_big_added_values_stay_whole() -> None:
    before = m("Service", "s", {"spec": {}})
    after = m("Service", "s", {"spec": {"big": {f"k{i}": i for i in range(40)}}})
    fields = diff_manifests([before], [after]).changed[0].fields
    assert [(f.path, f.op) for f in fields] == [("spec.big", "added")]


def test_scalar_lists_read_whole_and_many_fields_are_capped() -> None:
    before = m("Sidecar", "s", {"spec": {"hosts": ["a"], "many": {f"k{i}": i for i in range(300)}}})
    after = m("Sidecar", "s", {"spec": {"hosts": ["a", "b"], "many": {f"k{i}": -i - 1 for i in range(300)}}})
    d = diff_manifests([before], [after], max_fields=50)
    change = d.changed[0]
    assert (change.fields[0].path, change.fields[0].before, change.fields[0].after) == (
        "spec.hosts",
        ["a"],
        ["a", "b"],
    )
    assert len(change.fields) == 50 and change.omitted == 251


def test_clusters_are_part_of_the_identity() -> None:
    base = [m("Service", "a", {"spec": {}}, cluster="east")]
    head = [m("Service", "a", {"spec": {}}, cluster="east"), m("Service", "a", {"spec": {}}, cluster="west")]
    d = diff_manifests(base, head)
    assert d.added == [ResourceKey("west", "Service", "ns", "a")]
    assert d.added[0].ref == "west: Service ns/a"
    assert d.clusters == ["west"]


def test_canary_changes_exactly_one_resource() -> None:
    d = diff_manifests(compiled(BOOKINFO), compiled(CANARY))
    assert [c.key.ref for c in d.changed] == ["VirtualService bookinfo/reviews"]
    assert not d.added and not d.removed
    assert d.changed[0].fields[0].path == "spec.http[0].route[0].destination.subset"


def test_cost_is_dominated_by_what_changed() -> None:
    base = [
        m("Service", f"s{i}", {"spec": {"ports": [{"name": "http", "port": i}], "x": {"y": [1, 2, 3]}}})
        for i in range(20_000)
    ]
    head = [Manifest(x.kind, x.namespace, x.name, copy.deepcopy(x.body)) for x in base]
    head[5].body["spec"]["x"]["y"][1] = 9
    start = time.perf_counter()
    d = diff_manifests(base, head)
    elapsed = time.perf_counter() - start
    assert len(d.changed) == 1 and d.unchanged == 19_999
    assert elapsed < 2.0
