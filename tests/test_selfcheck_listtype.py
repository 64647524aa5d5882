"""Unique list keys in the self-check: CRD ``x-kubernetes-list-type`` and the core kinds' own rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from meshc.compiler.selfcheck import check_resources, core, core_unique, crd, listtype
from meshc.compiler.selfcheck.paths import format_path


def _errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in check_resources([resource])]


SERVICE_ENTRY: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "ServiceEntry",
    "metadata": {"name": "ext", "namespace": "shop"},
    "spec": {
        "hosts": ["api.example.com"],
        "location": "MESH_EXTERNAL",
        "resolution": "DNS",
        "ports": [{"name": "https", "number": 443, "protocol": "TLS"}],
    },
}

WASM_PLUGIN: dict[str, Any] = {
    "apiVersion": "extensions.istio.io/v1alpha1",
    "kind": "WasmPlugin",
    "metadata": {"name": "auth", "namespace": "shop"},
    "spec": {
        "url": "oci://registry.example.com/auth:1",
        "match": [{"ports": [{"number": 8080}, {"number": 9090}]}],
        "vmConfig": {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    },
}


# ---------------------------------------------------------------------------------------------
# CRDs
# ---------------------------------------------------------------------------------------------


def test_valid_crd_lists_pass() -> None:
    assert _errors(SERVICE_ENTRY) == []
    assert _errors(WASM_PLUGIN) == []


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_service_entry_port_names_are_unique(version: str) -> None:
    se = copy.deepcopy(SERVICE_ENTRY)
    se["apiVersion"] = f"networking.istio.io/{version}"
    se["spec"]["ports"] = [
        {"name": "a", "number": 1},
        {"name": "a", "number": 2},
        {"name": "b", "number": 3},
        {"name": "a", "number": 4},
    ]
    # Like the API server: each repeated key once, where it first repeats.
    assert _errors(se) == [("spec.ports[1]", 'Duplicate value: {"name":"a"}')]


def test_items_without_the_key_are_duplicates_of_each_other() -> None:
    """An item lacking a key field has the "unspecified" key (the schema check also reports
    the missing required name)."""
    se = copy.deepcopy(SERVICE_ENTRY)
    se["spec"]["ports"] = [{"number": 1}, {"name": "a", "number": 2}, {"number": 3}]
    errors = _errors(se)
    assert ("spec.ports[2]", "Duplicate value: {}") in errors
    assert ("spec.ports[0]", 'missing required field "name"') in errors


def test_wasm_plugin_env_and_nested_match_ports() -> None:
    wasm = copy.deepcopy(WASM_PLUGIN)
    wasm["spec"]["vmConfig"]["env"].append({"name": "A", "value": "3"})
    wasm["spec"]["match"].append({"ports": [{"number": 80}, {"number": 80}]})
    assert _errors(wasm) == [
        ("spec.match[1].ports[1]", 'Duplicate value: {"number":80}'),
        ("spec.vmConfig.env[2]", 'Duplicate value: {"name":"A"}'),
    ]


def test_list_type_errors_come_with_cel_errors() -> None:
    """The API server runs list types and CEL rules both; so does the self-check."""
    se = copy.deepcopy(SERVICE_ENTRY)
    se["spec"]["ports"] = [{"name": "a", "number": 1}, {"name": "a", "number": 1}]
    errors = _errors(se)
    assert errors[0] == ("spec.ports[1]", 'Duplicate value: {"name":"a"}')
    assert errors[1][0] == "spec.ports"
    assert errors[1][1].startswith("port number cannot be duplicated")
    assert len(errors) == 2


def _annotated_paths(s: Any, path: tuple[str, ...], out: set[tuple[str, ...]]) -> None:
    """Every map/set list in a structural schema, by a plain full walk."""
    if not isinstance(s, dict):
        return
    if s.get("x-kubernetes-list-type") in ("map", "set"):
        out.add(path)
    for name, sub in (s.get("properties") or {}).items():
        _annotated_paths(sub, (*path, name), out)
    _annotated_paths(s.get("items"), (*path, "[]"), out)
    _annotated_paths(s.get("additionalProperties"), (*path, "{}"), out)


def _checked_paths(
    node: listtype.UniqueNode | None, path: tuple[str, ...], out: set[tuple[str, ...]]
) -> None:
    if node is None:
        return
    if node.checks:
        out.add(path)
    for name, child in node.props.items():
        _checked_paths(child, (*path, name), out)
    _checked_paths(node.items, (*path, "[]"), out)
    _checked_paths(node.addl, (*path, "{}"), out)


@pytest.mark.parametrize("api_version,kind", crd.known_istio_kinds())
def test_pruned_tree_keeps_every_list_type(api_version: str, kind: str) -> None:
    schema = crd.crd_version_schema(api_version, kind)
    want: set[tuple[str, ...]] = set()
    _annotated_paths(schema, (), want)
    checker = crd.istio_checker(api_version, kind)
    assert checker is not None
    got: set[tuple[str, ...]] = set()
    _checked_paths(checker.unique_tree, (), got)
    assert got == want
    assert (
        (checker.unique is None) == (checker.unique_tree is None) == (not want)
    )  # no list types: nothing to walk


def test_the_vendored_crds_have_list_types_where_expected() -> None:
    """If Istio or prometheus-operator add or drop list types, this test says so (the check follows
    the schemas)."""
    found = {}
    for api_version, kind in crd.known_istio_kinds():
        paths: set[tuple[str, ...]] = set()
        _annotated_paths(crd.crd_version_schema(api_version, kind), (), paths)
        if paths:
            found[f"{api_version}/{kind}"] = sorted(".".join(p) for p in paths)
    assert found == {
        "extensions.istio.io/v1alpha1/TrafficExtension": ["spec.match.[].ports", "spec.wasm.vmConfig.env"],
        "extensions.istio.io/v1alpha1/WasmPlugin": ["spec.match.[].ports", "spec.vmConfig.env"],
        "networking.istio.io/v1/ServiceEntry": ["spec.ports"],
        "networking.istio.io/v1alpha3/ServiceEntry": ["spec.ports"],
        "networking.istio.io/v1beta1/ServiceEntry": ["spec.ports"],
        # prometheus-operator v0.93.0: rule groups are unique by name, scrape protocols a set.
        "monitoring.coreos.com/v1/PodMonitor": [
            "spec.scrapeProtocols",
            "status.bindings",
            "status.bindings.[].conditions",
        ],
        "monitoring.coreos.com/v1/PrometheusRule": [
            "spec.groups",
            "status.bindings",
            "status.bindings.[].conditions",
        ],
        "monitoring.coreos.com/v1/ServiceMonitor": [
            "spec.scrapeProtocols",
            "status.bindings",
            "status.bindings.[].conditions",
        ],
    }


# ---------------------------------------------------------------------------------------------
# The comparison itself, on a synthetic schema
# ---------------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "any": {"type": "array", "x-kubernetes-list-type": "set"},
        "atomic": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"},
        "routes": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["port", "protocol"],
            "items": {"type": "object"},
        },
        "byName": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "x-kubernetes-list-type": "set",
                "items": {"type": "integer"},
            },
        },
    },
}


def _check(value: dict[str, Any]) -> list[tuple[str, str]]:
    """Errors from the compiled tree, after checking the plain walk finds the same."""
    tree = listtype.build_tree(SCHEMA)
    assert tree is not None
    out: list[tuple[str, str]] = []
    listtype.compile_tree(tree)(value, (), out)
    walked: list[tuple[str, str]] = []
    listtype.walk(tree, value, (), walked)
    assert out == walked
    return out


def test_set_of_strings() -> None:
    assert _check({"tags": ["a", "b", "c"]}) == []
    assert _check({"tags": ["a", "b", "a", "a", "b"]}) == [
        ("tags[2]", 'Duplicate value: "a"'),
        ("tags[4]", 'Duplicate value: "b"'),
    ]


def test_set_compares_like_the_api_server() -> None:
    """true is not 1, 1 is 1.0 (one JSON number), objects compare by content, not key order."""
    assert _check({"any": [True, 1, "1", None]}) == []
    assert _check({"any": [1, 1.0]}) == [("any[1]", "Duplicate value: 1.0")]
    assert _check({"any": [{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}]}) == [
        ("any[1]", 'Duplicate value: {"a":1,"b":[2.0]}')
    ]
    assert _check({"any": [{"a": 1}, {"a": True}, [1], [True]]}) == []
    assert _check({"any": [None, None]}) == [("any[1]", "Duplicate value: null")]


def test_atomic_lists_may_repeat() -> None:
    assert _check({"atomic": ["a", "a"]}) == []


def test_map_with_two_keys() -> None:
    assert _check({"routes": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]}) == []
    assert _check({"routes": [{"port": 80, "protocol": "TCP", "x": 1}, {"protocol": "TCP", "port": 80}]}) == [
        ("routes[1]", 'Duplicate value: {"port":80,"protocol":"TCP"}')
    ]
    # A missing key is "unspecified", a null one is null: they differ.
    assert _check({"routes": [{"port": 80}, {"port": 80, "protocol": None}]}) == []
    assert _check({"routes": [{"port": 80}, {"port": 80}]}) == [("routes[1]", 'Duplicate value: {"port":80}')]
    assert _check({"routes": [None, {}]}) == [("routes[1]", "Duplicate value: {}")]


def test_map_items_that_are_not_objects_are_left_to_the_schema_check() -> None:
    assert _check({"routes": [1, 1]}) == []


def test_lists_under_additional_properties() -> None:
    assert _check({"byName": {"x": [1, 2], "y": [3, 3]}}) == [("byName.y[1]", "Duplicate value: 3")]


def test_paths_are_formatted_like_other_errors() -> None:
    out = _check({"byName": {"a/b": [1, 1]}})
    assert out == [(format_path(["byName", "a/b", 1]), "Duplicate value: 1")]
    assert out[0][0] == 'byName["a/b"][1]'


def test_a_long_distinct_list_takes_the_fast_path() -> None:
    values = [f"v{i}" for i in range(10_000)]
    assert listtype.repeated_indices(values) == []
    assert listtype.repeated_indices([*values, "v5"]) == [10_000]


# ---------------------------------------------------------------------------------------------
# Core kinds: what the API server's validation code rejects
# ---------------------------------------------------------------------------------------------

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "web:1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
    },
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
    },
}


def _pod(dep: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = dep["spec"]["template"]["spec"]
    return pod


def test_valid_core_lists_pass() -> None:
    assert _errors(DEPLOYMENT) == []
    assert _errors(SERVICE) == []


def test_container_names_are_unique_across_init_and_regular_containers() -> None:
    dep = copy.deepcopy(DEPLOYMENT)
    pod = _pod(dep)
    pod["containers"].append({"name": "web", "image": "sidecar:1"})
    pod["initContainers"] = [{"name": "web", "image": "init:1"}, {"name": "setup", "image": "init:1"}]
    assert _errors(dep) == [
        ("spec.template.spec.containers[1].name", 'Duplicate value: "web"'),
        ("spec.template.spec.initContainers[0].name", 'Duplicate value: "web"'),
    ]


def test_volume_names_mount_paths_and_container_port_names_are_unique() -> None:
    dep = copy.deepcopy(DEPLOYMENT)
    pod = _pod(dep)
    pod["volumes"].append({"name": "data", "emptyDir": {}})
    ctr = pod["containers"][0]
    ctr["volumeMounts"].append({"name": "data", "mountPath": "/data"})
    ctr["ports"].append({"name": "http", "containerPort": 9090})
    assert sorted(_errors(dep)) == [
        ("spec.template.spec.containers[0].ports[1].name", 'Duplicate value: "http"'),
        (
            "spec.template.spec.containers[0].volumeMounts[1].mountPath",
            'Invalid value: "/data": must be unique',
        ),
        ("spec.template.spec.volumes[1].name", 'Duplicate value: "data"'),
    ]


def test_a_single_container_pod_is_checked_too() -> None:
    """meshc's pods have one container and no other lists: the fast path still checks it."""
    dep = copy.deepcopy(DEPLOYMENT)
    del _pod(dep)["volumes"]
    ctr = _pod(dep)["containers"][0]
    del ctr["volumeMounts"]
    assert _errors(dep) == []
    ctr["ports"].append({"name": "http", "containerPort": 9090})
    assert _errors(dep) == [("spec.template.spec.containers[0].ports[1].name", 'Duplicate value: "http"')]


def test_topology_spread_constraints_do_not_repeat() -> None:
    dep = copy.deepcopy(DEPLOYMENT)
    constraint = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
    _pod(dep)["topologySpreadConstraints"] = [constraint, {**constraint, "maxSkew": 2}]
    assert _errors(dep) == [
        (
            "spec.template.spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}",
            'Duplicate value: "{zone, DoNotSchedule}"',
        )
    ]


def test_duplicates_the_api_server_accepts_are_accepted() -> None:
    """Duplicate env names and duplicate containerPort+protocol are list-type map keys in the
    OpenAPI, but the API server only warns about them; a cluster accepts the Deployment."""
    dep = copy.deepcopy(DEPLOYMENT)
    ctr = _pod(dep)["containers"][0]
    ctr["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    ctr["ports"].append({"containerPort": 8080})
    _pod(dep)["imagePullSecrets"] = [{"name": "reg"}, {"name": "reg"}]
    assert _errors(dep) == []


def test_pod_templates_are_found_in_every_workload_kind() -> None:
    """The PodSpec's place comes from the kind's schema, not from a hard-coded path."""
    pod = {"containers": [{"name": "a", "image": "a:1"}, {"name": "a", "image": "a:1"}]}
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "shop"},
        "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }
    assert ("spec.jobTemplate.spec.template.spec.containers[1].name", 'Duplicate value: "a"') in _errors(cron)
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": pod}
    assert ("spec.containers[1].name", 'Duplicate value: "a"') in _errors(bare)


def test_service_ports_are_unique_by_port_and_protocol() -> None:
    svc = copy.deepcopy(SERVICE)
    svc["spec"]["ports"] = [
        {"name": "dns", "port": 53, "targetPort": 53},  # protocol defaults to TCP
        {"name": "dns-udp", "port": 53, "targetPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
        {"name": "dns", "port": 54, "targetPort": 54},
    ]
    assert _errors(svc) == [
        ("spec.ports[3].name", 'Duplicate value: "dns"'),
        ("spec.ports[2]", 'Duplicate value: {"port":53,"protocol":"TCP"}'),
    ]


def test_compiled_tree_matches_the_plain_walk_on_core_kinds() -> None:
    """The compiled closures (chains collapsed) find exactly what the plain walk finds."""
    dep = copy.deepcopy(DEPLOYMENT)
    pod = _pod(dep)
    pod["containers"] += [{"name": "web", "image": "x", "ports": [{"name": "a"}, {"name": "a"}]}]
    pod["initContainers"] = [{"name": "web", "image": "y"}]
    pod["volumes"] += [{"name": "data"}]
    svc = copy.deepcopy(SERVICE)
    svc["spec"]["ports"] += [{"name": "http", "port": 80}]
    for resource in (dep, svc, DEPLOYMENT, SERVICE):
        checker = core.core_checker(resource["apiVersion"], resource["kind"])
        assert checker is not None and checker.unique is not None and checker.unique_tree is not None
        compiled: list[tuple[str, str]] = []
        checker.unique(resource, (), compiled)
        walked: list[tuple[str, str]] = []
        listtype.walk(checker.unique_tree, resource, (), walked)
        assert compiled == walked
        assert bool(compiled) == (resource is dep or resource is svc)


def test_kinds_without_unique_keys_have_no_tree() -> None:
    for api_version, kind in (("v1", "ConfigMap"), ("v1", "Namespace"), ("v1", "ServiceAccount")):
        checker = core.core_checker(api_version, kind)
        assert checker is not None and checker.unique is None and checker.unique_tree is None, kind


# The core kinds meshc emits (compiler/lower/core.py) and the workload kinds beside them.
CORE_KINDS = [
    ("v1", "Namespace"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Pod"),
]


def _definition_of(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    for name, d in sorted(core._definitions().items()):
        gvks = d.get("x-kubernetes-group-version-kind") or []
        if {"group": group, "version": version, "kind": kind} in gvks:
            return name
    raise AssertionError(f"no definition for {api_version} {kind}")


def _core_list_types(kind_schema: dict[str, Any], kind_definition: str) -> set[tuple[str, str]]:
    """(definition, field) of every map/set list reachable from a kind, status excluded."""
    defs = kind_schema["$defs"]
    found: set[tuple[str, str]] = set()
    seen: set[str] = set()

    def visit(s: Any, owner: str) -> None:
        if not isinstance(s, dict):
            return
        ref = s.get("$ref")
        if isinstance(ref, str):
            name = ref.removeprefix("#/$defs/")
            if name not in seen:
                seen.add(name)
                visit(defs[name], name)
            return
        for field, sub in (s.get("properties") or {}).items():
            if field == "status":
                continue
            if isinstance(sub, dict) and sub.get("x-kubernetes-list-type") in ("map", "set"):
                found.add((owner, field))
            visit(sub, owner)
        visit(s.get("items"), owner)
        visit(s.get("additionalProperties"), owner)

    visit(kind_schema, kind_definition)
    return found


def test_every_core_list_type_is_classified() -> None:
    """Each map/set list of these kinds is either enforced (the API server rejects duplicates)
    or recorded with the reason it is not; a new Kubernetes version cannot slip one past."""
    annotated: set[tuple[str, str]] = set()
    for api_version, kind in CORE_KINDS:
        checker = core.core_checker(api_version, kind)
        assert checker is not None, kind
        annotated |= _core_list_types(checker.schema, _definition_of(api_version, kind))
    classified = set(core_unique.ENFORCED) | set(core_unique.NOT_CHECKED)
    assert not set(core_unique.ENFORCED) & set(core_unique.NOT_CHECKED)
    assert sorted(annotated - classified) == []
    assert sorted(classified - annotated) == []  # no stale entries
    checked_within_pod_spec = {core_unique._CORE + "Container", core_unique._CORE + "EphemeralContainer"}
    for definition, _ in core_unique.ENFORCED:
        assert definition in core_unique.CHECKS or definition in checked_within_pod_spec
