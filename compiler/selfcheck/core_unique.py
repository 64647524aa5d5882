"""Unique keys in core kinds: exactly the duplicates the API server rejects for built-in kinds.

Why: the Kubernetes OpenAPI marks many core lists ``x-kubernetes-list-type: map`` (containers by
``name``, container ports by ``containerPort``+``protocol``, env by ``name``...). For built-in
kinds the API server does NOT enforce those annotations: they only tell server-side apply how to
merge. (``listtype.py``'s check runs for custom resources only.) What it rejects is decided by
the hand-written validation in k8s.io/kubernetes ``pkg/apis/core/validation``, and that
differs from the annotations both ways:

- duplicate env names and duplicate container ports (same ``containerPort`` and ``protocol``)
  are *accepted*; the API server only returns a warning ("hides previous definition",
  "duplicate port definition", ``pkg/api/pod/warnings.go``). Rejecting them here would reject
  manifests a cluster accepts;
- duplicate container *port names* are rejected, although ``name`` is not the list's key.

So this module enforces the validation code's uniqueness checks, with its paths and wording.
``ENFORCED`` lists the list-type annotated lists they cover; ``NOT_CHECKED`` the others, each
with its reason: mostly lists whose duplicates the API server accepts, and three that belong to
features meshc never writes. A test checks that
every ``map``/``set`` list reachable from the core workload kinds is in exactly one of them.

Where the checks apply is found once per kind: ``build_tree`` follows the kind's schema
``$ref``s to the definitions below (a PodSpec sits at ``spec.template.spec`` in a Deployment, at
``spec.jobTemplate.spec.template.spec`` in a CronJob...) and prunes everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import orjson

from meshc.spec.source import PathItem

from .listtype import NodeCheck, UniqueNode, exact_key
from .paths import format_path

_CORE = "io.k8s.api.core.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
Out = list[tuple[str, str]]


def _quote(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _list(obj: Any, name: str) -> list[Any]:
    value = obj.get(name)
    return value if isinstance(value, list) else []


def _distinct(items: list[Any], field: str) -> bool:
    """True if every item has ``field`` and no two values are equal (by Python's equality,
    which is coarser than the API server's, so "distinct" here is distinct there too). The
    fast path: most lists meshc writes have distinct keys."""
    try:
        values = list(map(itemgetter(field), items))
        return len(set(values)) == len(values)
    except (KeyError, TypeError, IndexError):
        return False


def _field_repeats(
    items: list[Any],
    field: str,
    seen: set[Any],
    where: tuple[PathItem, ...],
    message: Callable[[Any], str],
    out: Out,
    *,
    skip_empty: bool = False,
) -> None:
    """Report every item whose ``field`` was seen before (the validation code's
    ``if allNames.Has(x) {Duplicate} else {Insert}``), at ``where[i].field``."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        value = item.get(field)
        if not isinstance(value, str) or (skip_empty and not value):
            continue  # wrong type or missing: the schema check reports it
        if value in seen:
            out.append((format_path((*where, i, field)), message(value)))
        else:
            seen.add(value)


def _duplicate(value: Any) -> str:
    return f"Duplicate value: {_quote(value)}"


def _not_unique(value: Any) -> str:
    return f"Invalid value: {_quote(value)}: must be unique"


_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_CONTAINER_KEYED = (("volumeMounts", "mountPath", _not_unique), ("volumeDevices", "devicePath", _not_unique))
_CONTAINER_KEYED_FIELDS = frozenset({"volumeMounts", "volumeDevices", "ports"})
_POD_KEYED = frozenset(
    {"initContainers", "ephemeralContainers", "volumes", "schedulingGates", "topologySpreadConstraints"}
)


def pod_spec(spec: Any, path: tuple[PathItem, ...], out: Out) -> None:
    """PodSpec and its containers (``validateContainers``, ``validateInitContainers``,
    ``validateEphemeralContainers``, ``validateVolumes``, ``validateVolumeMounts``,
    ``validateVolumeDevices``, ``validateContainerPorts``, ``validateTopologySpreadConstraints``,
    ``validateSchedulingGates``). Containers occur only in a PodSpec, so they are checked here,
    in one call per pod."""
    if not isinstance(spec, dict):
        return
    containers = spec.get("containers")
    if spec.keys().isdisjoint(_POD_KEYED) and isinstance(containers, list) and len(containers) == 1:
        # The common shape (meshc's pods): one container, no other lists to look at.
        ctr = containers[0]
        if isinstance(ctr, dict) and not ctr.keys().isdisjoint(_CONTAINER_KEYED_FIELDS):
            _container(ctr, path, "containers", 0, out)
        return
    lists = [spec.get(name) for name in _CONTAINER_LISTS]
    # One namespace for the names of all containers. Init containers are checked against the
    # regular ones, ephemeral containers against both; a repeat is reported where it occurs.
    if lists[1] is None and lists[2] is None:
        containers = lists[0]
        repeats = isinstance(containers, list) and len(containers) > 1 and not _distinct(containers, "name")
    else:
        repeats = not _distinct([c for lst in lists if isinstance(lst, list) for c in lst], "name")
    if repeats:
        names: set[Any] = set()
        for list_name, lst in zip(_CONTAINER_LISTS, lists, strict=True):
            if isinstance(lst, list):
                skip_empty = list_name != "containers"
                where = (*path, list_name)
                _field_repeats(lst, "name", names, where, _duplicate, out, skip_empty=skip_empty)
    for list_name, lst in zip(_CONTAINER_LISTS, lists, strict=True):
        if isinstance(lst, list):
            for i, ctr in enumerate(lst):
                if isinstance(ctr, dict):
                    _container(ctr, path, list_name, i, out)
    volumes = spec.get("volumes")
    if isinstance(volumes, list) and len(volumes) > 1 and not _distinct(volumes, "name"):
        _field_repeats(volumes, "name", set(), (*path, "volumes"), _duplicate, out)
    gates = spec.get("schedulingGates")
    if isinstance(gates, list) and len(gates) > 1 and not _distinct(gates, "name"):
        seen: set[Any] = set()
        for i, gate in enumerate(gates):
            name = gate.get("name") if isinstance(gate, dict) else None
            if isinstance(name, str):
                if name in seen:
                    out.append((format_path((*path, "schedulingGates", i)), _duplicate(name)))
                seen.add(name)
    constraints = spec.get("topologySpreadConstraints")
    if isinstance(constraints, list) and len(constraints) > 1:
        # ValidateSpreadConstraintNotRepeat: reported on each constraint that a *later* one repeats.
        pairs = [
            (c.get("topologyKey"), c.get("whenUnsatisfiable")) if isinstance(c, dict) else None
            for c in constraints
        ]
        for i, pair in enumerate(pairs):
            if pair is not None and all(isinstance(p, str) for p in pair) and pair in pairs[i + 1 :]:
                where_text = format_path((*path, "topologySpreadConstraints", i))
                out.append(
                    (
                        f"{where_text}.{{topologyKey, whenUnsatisfiable}}",
                        _duplicate(f"{{{pair[0]}, {pair[1]}}}"),
                    )
                )


def _container(ctr: dict[str, Any], path: tuple[PathItem, ...], list_name: str, index: int, out: Out) -> None:
    """One Container or EphemeralContainer: mount paths, device paths, port names."""
    for field_list, field, message in _CONTAINER_KEYED:
        items = ctr.get(field_list)
        if isinstance(items, list) and len(items) > 1 and not _distinct(items, field):
            _field_repeats(items, field, set(), (*path, list_name, index, field_list), message, out)
    ports = ctr.get("ports")
    if isinstance(ports, list) and len(ports) > 1 and not _distinct(ports, "name"):
        where = (*path, list_name, index, "ports")
        _field_repeats(ports, "name", set(), where, _duplicate, out, skip_empty=True)


def service_spec(spec: Any, path: tuple[PathItem, ...], out: Out) -> None:
    """ServiceSpec (``ValidateService``): port names, and (port, protocol) pairs; a missing
    protocol is defaulted to TCP before validation."""
    if not isinstance(spec, dict):
        return
    ports = spec.get("ports")
    if not isinstance(ports, list) or len(ports) < 2:
        return
    try:  # the fast path: names and (port, protocol) pairs all distinct
        names = set()
        pairs = set()
        for p in ports:
            names.add(p["name"])
            pairs.add((p["port"], p.get("protocol", "TCP")))
        if len(names) == len(pairs) == len(ports):
            return
    except (KeyError, TypeError, AttributeError):
        pass
    if not _distinct(ports, "name"):
        _field_repeats(ports, "name", set(), (*path, "ports"), _duplicate, out, skip_empty=True)
    seen: set[Any] = set()
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        number, protocol = p.get("port"), p.get("protocol", "TCP")
        key = (exact_key(number), exact_key(protocol))
        if key in seen:
            shown = {"port": number, "protocol": protocol}
            out.append((format_path((*path, "ports", i)), f"Duplicate value: {_quote(shown)}"))
        seen.add(key)


# Definition -> the check of a value of that definition.
CHECKS: dict[str, NodeCheck] = {
    _CORE + "PodSpec": pod_spec,
    _CORE + "ServiceSpec": service_spec,
}

# (definition, field) of the list-type map/set lists these checks cover -> what is unique.
ENFORCED: dict[tuple[str, str], str] = {
    (_CORE + "PodSpec", "containers"): "container names, across all containers",
    (_CORE + "PodSpec", "initContainers"): "container names, across all containers",
    (_CORE + "PodSpec", "ephemeralContainers"): "container names, across all containers",
    (_CORE + "PodSpec", "volumes"): "volume names",
    (_CORE + "PodSpec", "schedulingGates"): "scheduling gate names",
    (_CORE + "PodSpec", "topologySpreadConstraints"): "{topologyKey, whenUnsatisfiable}",
    (_CORE + "Container", "volumeMounts"): "mount paths (checked with the PodSpec)",
    (_CORE + "Container", "volumeDevices"): "device paths (checked with the PodSpec)",
    (_CORE + "EphemeralContainer", "volumeMounts"): "mount paths (checked with the PodSpec)",
    (_CORE + "EphemeralContainer", "volumeDevices"): "device paths (checked with the PodSpec)",
    (_CORE + "ServiceSpec", "ports"): "(port, protocol) pairs, and port names",
}

_WARNS_ENV = "duplicate env names are accepted; the API server only warns (hides previous definition)"
_WARNS_PORTS = (
    "duplicate containerPort+protocol is accepted; the API server only warns (duplicate port "
    "definition). Port names, which it does reject, are checked with the container"
)
# (definition, field) of the other list-type map/set lists, and why they are not checked.
NOT_CHECKED: dict[tuple[str, str], str] = {
    (_CORE + "Container", "env"): _WARNS_ENV,
    (_CORE + "EphemeralContainer", "env"): _WARNS_ENV,
    (_CORE + "Container", "ports"): _WARNS_PORTS,
    (_CORE + "EphemeralContainer", "ports"): _WARNS_PORTS,
    (_CORE + "PodSpec", "imagePullSecrets"): "no uniqueness check in the validation code",
    (_CORE + "PodSpec", "hostAliases"): "no uniqueness check in the validation code (ip may repeat)",
    (_CORE + "ServiceAccount", "secrets"): "no uniqueness check in the validation code",
    (_META + "ObjectMeta", "finalizers"): "no uniqueness check in the validation code",
    (_META + "ObjectMeta", "ownerReferences"): (
        "no uniqueness check on uid in the validation code (it limits controller references to one)"
    ),
    # Features meshc never writes. The API server likely rejects duplicates here; not checked
    # (nor verified against its source) until meshc writes them.
    (_CORE + "PodSpec", "resourceClaims"): "dynamic resource allocation: meshc never writes it",
    (_CORE + "ResourceRequirements", "claims"): "dynamic resource allocation: meshc never writes it",
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "values"): (
        "Job pod failure policies: meshc never writes them"
    ),
}


# ---------------------------------------------------------------------------------------------
# Where the checks apply, per kind
# ---------------------------------------------------------------------------------------------

_LOCAL_PREFIX = "#/$defs/"


class _TreeBuilder:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.memo: dict[str, UniqueNode | None] = {}

    def definition(self, name: str) -> UniqueNode | None:
        if name in self.memo:
            return self.memo[name]
        self.memo[name] = None  # a recursive definition reached again: no checks via that path
        node = self.node(self.defs.get(name) or {})
        check = CHECKS.get(name)
        if check is not None:
            if node is None:
                node = UniqueNode(checks=[check])
            else:  # a new node: ``node`` may be shared with another definition
                node = UniqueNode([check, *node.checks], node.props, node.items, node.addl)
        self.memo[name] = node
        return node

    def node(self, s: Mapping[str, Any]) -> UniqueNode | None:
        ref = s.get("$ref")
        if isinstance(ref, str) and ref.startswith(_LOCAL_PREFIX):
            return self.definition(ref.removeprefix(_LOCAL_PREFIX))
        node = UniqueNode()
        for name, sub in sorted((s.get("properties") or {}).items()):
            if name == "status":
                continue  # the API server resets status on create; meshc never writes it
            if isinstance(sub, Mapping) and (child := self.node(sub)) is not None:
                node.props[name] = child
        items = s.get("items")
        if isinstance(items, Mapping):
            node.items = self.node(items)
        addl = s.get("additionalProperties")
        if isinstance(addl, Mapping):
            node.addl = self.node(addl)
        return None if node.empty() else node


def build_tree(schema: Mapping[str, Any]) -> UniqueNode | None:
    """The checks of a core kind's self-contained schema (refs ``#/$defs/...``), or None."""
    return _TreeBuilder(schema.get("$defs") or {}).node(schema)
