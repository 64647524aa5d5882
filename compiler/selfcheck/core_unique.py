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
with its reason: mostly lists whose duplicates the API server accepts, and three whose
duplicates it rejects but which belong to features meshc never writes. A test checks that
every ``map``/``set`` list reachable from the core workload kinds is in exactly one of them.

Where the checks apply is found once per kind: ``build_tree`` follows the kind's schema
``$ref``s to the definitions below (a PodSpec sits at ``spec.template.spec`` in a Deployment, at
``spec.jobTemplate.spec.template.spec`` in a CronJob...) and prunes everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from .listtype import NodeCheck, UniqueNode, exact_key
from .paths import PathItem, format_path

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


def _field_repeats(
    items: Iterable[tuple[int, Any]],
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
    for i, item in items:
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


def pod_spec(spec: Any, path: tuple[PathItem, ...], out: Out) -> None:
    """PodSpec (``validateContainers``, ``validateInitContainers``, ``validateEphemeralContainers``,
    ``validateVolumes``, ``validateTopologySpreadConstraints``, ``validateSchedulingGates``)."""
    if not isinstance(spec, dict):
        return
    # One namespace for the names of all containers. Init containers are checked against the
    # regular ones, ephemeral containers against both; a repeat is reported where it occurs.
    names: set[Any] = set()
    for list_name in ("containers", "initContainers", "ephemeralContainers"):
        containers = _list(spec, list_name)
        _field_repeats(
            enumerate(containers),
            "name",
            names,
            (*path, list_name),
            _duplicate,
            out,
            skip_empty=list_name != "containers",
        )
    volumes = _list(spec, "volumes")
    if len(volumes) > 1:
        _field_repeats(enumerate(volumes), "name", set(), (*path, "volumes"), _duplicate, out)
    gates = _list(spec, "schedulingGates")
    if len(gates) > 1:
        seen: set[Any] = set()
        for i, gate in enumerate(gates):
            name = gate.get("name") if isinstance(gate, dict) else None
            if isinstance(name, str):
                if name in seen:
                    out.append((format_path((*path, "schedulingGates", i)), _duplicate(name)))
                seen.add(name)
    constraints = _list(spec, "topologySpreadConstraints")
    if len(constraints) > 1:
        # ValidateSpreadConstraintNotRepeat: reported on each constraint that a *later* one repeats.
        pairs = [
            (c.get("topologyKey"), c.get("whenUnsatisfiable")) if isinstance(c, dict) else None
            for c in constraints
        ]
        for i, pair in enumerate(pairs):
            if pair is not None and all(isinstance(p, str) for p in pair) and pair in pairs[i + 1 :]:
                where = format_path((*path, "topologySpreadConstraints", i))
                out.append(
                    (f"{where}.{{topologyKey, whenUnsatisfiable}}", _duplicate(f"{{{pair[0]}, {pair[1]}}}"))
                )


def container(ctr: Any, path: tuple[PathItem, ...], out: Out) -> None:
    """Container and EphemeralContainer (``validateVolumeMounts``, ``validateVolumeDevices``,
    ``validateContainerPorts``)."""
    if not isinstance(ctr, dict):
        return
    for list_name, field in (("volumeMounts", "mountPath"), ("volumeDevices", "devicePath")):
        items = _list(ctr, list_name)
        if len(items) > 1:
            _field_repeats(
                enumerate(items),
                field,
                set(),
                (*path, list_name),
                lambda v: f"Invalid value: {_quote(v)}: must be unique",
                out,
            )
    ports = _list(ctr, "ports")
    if len(ports) > 1:
        _field_repeats(enumerate(ports), "name", set(), (*path, "ports"), _duplicate, out, skip_empty=True)


def service_spec(spec: Any, path: tuple[PathItem, ...], out: Out) -> None:
    """ServiceSpec (``ValidateService``): port names, and (port, protocol) pairs; a missing
    protocol is defaulted to TCP before validation."""
    if not isinstance(spec, dict):
        return
    ports = _list(spec, "ports")
    if len(ports) < 2:
        return
    _field_repeats(enumerate(ports), "name", set(), (*path, "ports"), _duplicate, out, skip_empty=True)
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
    _CORE + "Container": container,
    _CORE + "EphemeralContainer": container,
    _CORE + "ServiceSpec": service_spec,
}

# (definition, field) of the list-type map/set lists these checks cover.
ENFORCED: dict[tuple[str, str], str] = {
    (_CORE + "PodSpec", "containers"): "container names are unique across all containers",
    (_CORE + "PodSpec", "initContainers"): "container names are unique across all containers",
    (_CORE + "PodSpec", "ephemeralContainers"): "container names are unique across all containers",
    (_CORE + "PodSpec", "volumes"): "volume names are unique",
    (_CORE + "PodSpec", "schedulingGates"): "scheduling gate names are unique",
    (_CORE + "PodSpec", "topologySpreadConstraints"): "{topologyKey, whenUnsatisfiable} is unique",
    (_CORE + "Container", "volumeMounts"): "mount paths are unique",
    (_CORE + "Container", "volumeDevices"): "device paths are unique",
    (_CORE + "EphemeralContainer", "volumeMounts"): "mount paths are unique",
    (_CORE + "EphemeralContainer", "volumeDevices"): "device paths are unique",
    (_CORE + "ServiceSpec", "ports"): "(port, protocol) pairs and port names are unique",
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
    (_CORE + "PodSpec", "resourceClaims"): (
        "names must be unique, but not checked here: dynamic resource allocation, which meshc never emits"
    ),
    (_CORE + "ResourceRequirements", "claims"): (
        "names must be unique, but not checked here: dynamic resource allocation, which meshc never emits"
    ),
    ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "values"): (
        "values must be unique (and ordered), but not checked here: Job pod failure policies, "
        "which meshc never emits"
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
