"""Units of reuse for an incremental compile: one per namespace, with a key of what its output
is a function of.

A compile of a big mesh is mostly the same from one commit to the next: a pull request touches a
service or two. The build cache (`meshc.compiler.buildcache`) keeps, per namespace, the objects
the last compile put there; this module says when they can be reused. The unit of a compiled
object is its namespace (a Namespace object's own name for that cluster-scoped kind), so a unit's
objects are one folder of `-o DIR` and one contiguous run of the canonical stream.

A unit's key is a hash of everything its objects are computed from:

- the **mesh-wide part**: the whole spec but `spec.services` (defaults, gateways, egress,
  namespaces, telemetry, clusters, security...), the names several namespaces hold (they decide
  each service's key, `foo` or `ns/foo`, and which bare references are ambiguous), and the
  services whose `security.allow` admits workloads by namespace or mesh-wide (every Sidecar imports
  them: `lower.sidecar.egress_hosts`). In a multi-cluster mesh, the identities (namespace, name) of
  every service in spec order as well: placement decides what each cluster imports;
- the services of the namespace itself and of every **adjacent** namespace: one holding a caller
  of a service here, or a service called from here (as the index resolves calls), in spec order.
  An edge between namespaces is what the objects of one read from the other (an
  AuthorizationPolicy names its callers' identities, a Sidecar its callees' hosts, the probes of
  the verifier run along edges); the adjacent namespaces' services are hashed whole, so what a
  namespace derives from all of its services (its injection mode, its webhook label) is covered;
- for a namespace a gateway's objects go to (keyed even without services of its own): the
  services its routes send to (`gateway_targets`).

Within a gateway's namespace, each gateway's Gateway and VirtualService (`lower.ingress`: all of
its routes combined with their targets' own, the costly part) are a function of the gateway, the
mesh-wide part and the services its own routes send to; `gateway_keys` hashes those alone. When
such a namespace is lowered anew because one route target changed, the other gateways' two
objects are the previous compile's (`pipeline.lower_incrementally` says when that is safe).

A unit is never reused when it holds an object not owned by one of its own services, by the
namespace itself or by a gateway its key covers (an egress entry's objects, dashboards, Prometheus
wiring: those read from services anywhere): such a unit is **volatile** and always compiled again.

Who exists is not part of the key, and need not be: adding, removing or renaming a service changes
no reference that resolves elsewhere. The cache only holds what a compile the rules accepted left,
and every unresolved or ambiguous reference (a call, a gateway route, an egress caller) is an error
(MC101, MC240). So a reference that resolves in both specs resolves to the same service, unless
its bare name moved to another namespace, and then the entry holding it is another (its digest, in
the key of every namespace that calls it now, is new); a name added is referenced only from entries
that changed; a name removed, from none. An added or removed service changes its own namespace's
members and the adjacency of the namespaces it calls or that call it, so their keys change; the
others keep theirs (their findings are re-rooted at the services' new places in the spec).

The keys are what makes reuse safe, so they err on the wide side (a comment in a service is
another key); tests/test_incremental.py checks, over random meshes and random edits, that an
incremental compile gives exactly the bytes of a full one, and that lowering a subset of units
gives exactly those units' objects of a full lowering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # not imported at run time: the read-ahead child hashes services before the models load
    from meshc.spec.loaded import LoadedSpec
    from meshc.spec.models import Gateway

    from .index import MeshIndex
    from .manifest import Manifest

_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
"""JSON bytes of the user's data as loaded; anything else (a YAML date, a set) raises, and then the
spec gets no keys (a full compile: reuse is only an optimisation)."""

NAMESPACE_KINDS = frozenset(
    {"Namespace", "PeerAuthentication", "AuthorizationPolicy", "Telemetry", "Sidecar"}
)
"""Kinds of the objects meshc writes for a namespace as a whole (owner None) from that namespace's
services and the mesh-wide settings only (its allow-nothing policy, its mTLS and telemetry
defaults). An object of another kind without an owner (a dashboard, a Prometheus rule, an
east-west gateway) makes its unit volatile."""


def unit_of(manifest: Manifest) -> str:
    """The unit (namespace) an object belongs to: its namespace; a Namespace object its own."""
    return manifest.namespace or manifest.name


@dataclass(frozen=True, slots=True)
class UnitKeys:
    keys: dict[str, str]
    """Namespace holding services -> its key."""
    adjacent: dict[str, frozenset[str]]
    """Namespace -> the namespaces adjacent to it (itself not included)."""
    services: dict[str, str]
    """Service (its index key) -> a hash of what the user wrote for it: which services an edit
    touched (the behaviour verifier probes them and their edges)."""
    gateways: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Gateway name -> (the namespace of its Gateway and VirtualService, their key): see
    `gateway_keys`; none in a multi-cluster mesh."""

    def ring(self, units: Iterable[str]) -> frozenset[str]:
        """`units` and every namespace adjacent to one of them."""
        out = set(units)
        for unit in list(out):
            out.update(self.adjacent.get(unit, ()))
        return frozenset(out)


def service_digests(data: Mapping[str, Any]) -> tuple[bytes, ...] | None:
    """A hash of each entry of the data's `spec.services` as the user wrote it (None when there is
    no such list, or it is not plain JSON)."""
    spec = data.get("spec")
    raw = spec.get("services") if isinstance(spec, dict) else None
    if not isinstance(raw, list):
        return None
    try:
        return tuple(
            hashlib.blake2b(orjson.dumps(s, option=_JSON_ONLY), digest_size=16).digest() for s in raw
        )
    except (TypeError, orjson.JSONEncodeError):
        return None


Handover = tuple[bytes, tuple[bytes, ...], tuple[bytes, int]]
"""The data as JSON, its services' digests (`service_digests`) and `outside_services`."""

HandoverHead = tuple[bytes, bytes, bytes, int]
"""What the JSON of the data is around its services, and `outside_services`: (the bytes before the
services' entries, the bytes after them, the JSON of the data but its services, their number)."""

HANDOVER_BATCH = 500
"""Services per batch of the read-ahead's hand-over (`handover_batches`): the first batch reaches
the parent ~1 ms after the parse, which validates it while the child dumps the next ones."""


def handover_head(data: Mapping[str, Any]) -> HandoverHead | None:
    """The part of the hand-over around the services (None: the data is not plain JSON as it is,
    say a key that is a number or an integer beyond 64 bits, or holds no service list). With every
    service's JSON from `handover_batches`, `head[0] + b",".join(parts) + head[1]` is byte for byte
    `orjson.dumps(data)`."""
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return None
    raw = spec.get("services")
    if not isinstance(raw, list) or not all(type(k) is str for d in (data, spec) for k in d):
        return None
    try:
        top = {k: orjson.dumps(v, option=_JSON_ONLY) for k, v in data.items() if k != "spec"}
        inner = {k: orjson.dumps(v, option=_JSON_ONLY) for k, v in spec.items() if k != "services"}
    except (TypeError, orjson.JSONEncodeError):
        return None

    def joined(fields: Iterable[tuple[str, bytes]]) -> bytes:
        return b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in fields) + b"}"

    def whole(services: bytes | None) -> bytes:
        fields = [(k, inner[k]) if k != "services" else (k, services) for k in spec]
        inside = joined((k, v) for k, v in fields if v is not None)
        return joined((k, inside if k == "spec" else top[k]) for k in data)

    # JSON never holds a raw NUL (orjson escapes it): the one in the middle is the services' place
    before, after = whole(b"[\0]").split(b"\0")
    return before, after, whole(None), len(raw)


def handover_batches(services: Sequence[Any]) -> Iterator[tuple[bytes, tuple[bytes, ...]]]:
    """The services' JSON in batches of HANDOVER_BATCH: (their JSON, comma-separated, the digest
    of each (`service_digests`)). Each service is dumped once, for both. Raises TypeError or
    orjson.JSONEncodeError at the first service that is not plain JSON as it is."""
    size = HANDOVER_BATCH
    for start in range(0, len(services), size):
        parts = [orjson.dumps(s, option=_JSON_ONLY) for s in services[start : start + size]]
        digests = tuple(hashlib.blake2b(p, digest_size=16).digest() for p in parts)
        yield b",".join(parts), digests


def handover_json(head: HandoverHead, chunks: Sequence[bytes]) -> bytes:
    """The JSON of the data from its `handover_head` and the services' JSON of its batches."""
    return head[0] + b",".join(chunks) + head[1]


def handover(data: Mapping[str, Any]) -> Handover | None:
    """The whole hand-over at once (`handover_head` and `handover_batches` put together, as the
    read-ahead's parent puts them together): the JSON of the data (byte for byte
    `orjson.dumps(data)`), its services' digests and `outside_services`; None when the data is not
    plain JSON as it is."""
    head = handover_head(data)
    if head is None:
        return None
    _, _, rest, count = head
    chunks: list[bytes] = []
    digests: list[bytes] = []
    try:
        for chunk, found in handover_batches(data["spec"]["services"]):
            chunks.append(chunk)
            digests += found
    except (TypeError, orjson.JSONEncodeError):
        return None
    return handover_json(head, chunks), tuple(digests), (rest, count)


def outside_services(data: Mapping[str, Any]) -> tuple[bytes, int] | None:
    """The data but its `spec.services` as JSON, and the number of services (None when there is no
    such list, or the rest is not plain JSON): with the services' digests, what keys are made of."""
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return None
    raw = spec.get("services")
    if not isinstance(raw, list):
        return None
    try:
        rest = orjson.dumps(
            {**data, "spec": {k: v for k, v in spec.items() if k != "services"}}, option=_JSON_ONLY
        )
    except (TypeError, orjson.JSONEncodeError):
        return None
    return rest, len(raw)


def loaded_unit_keys(loaded: LoadedSpec, index: MeshIndex) -> UnitKeys | None:
    """`unit_keys` of a loaded spec, from what its loader worked out already when it did (the
    read-ahead: `LoadedSpec.outside_services` and `digests`, without making the data)."""
    if loaded.outside_services is not None and loaded.digests is not None:
        rest, count = loaded.outside_services
        if len(loaded.digests) == count:
            return _keys(rest, count, index, loaded.digests)
    return unit_keys(loaded.data, index, loaded.digests)


def unit_keys(
    data: Mapping[str, Any], index: MeshIndex, digests: tuple[bytes, ...] | None = None
) -> UnitKeys | None:
    """The key of every namespace holding a service; None when the spec cannot be keyed (data that
    is not plain JSON, a service list the index does not mirror): then nothing is reused.
    `digests`: `service_digests(data)` if worked out already (`LoadedSpec.digests`)."""
    outside = outside_services(data)
    if outside is None:
        return None
    rest, count = outside
    if digests is None or len(digests) != count:
        digests = service_digests(data)
        if digests is None:
            return None
    return _keys(rest, count, index, digests)


def _keys(rest: bytes, count: int, index: MeshIndex, digests: tuple[bytes, ...]) -> UnitKeys | None:
    """`unit_keys` of the JSON of the data but its services (`rest`), their number and digests."""
    if count != len(index.mesh.spec.services):
        return None
    infos = list(index.services.values())
    if len(infos) != count:
        return None  # a name repeated in a namespace (MC102): the rules see entries the index dropped
    mesh = hashlib.blake2b(rest, digest_size=16)
    if index.clusters:  # placement: who runs where decides what every cluster imports
        for info in infos:  # identities, in spec order
            mesh.update(f"{info.index}\0{info.namespace}\0{info.name}\n".encode())
    else:  # the names several namespaces hold: they decide every service's key (`foo`, `ns/foo`)
        for name in sorted(index.shared_names):
            mesh.update(f"shared\0{name}\0{','.join(sorted(index.by_name[name]))}\n".encode())
    for info, _, _ in index.open_to_identities:
        mesh.update(b"open\0" + digests[info.index])
    mesh_digest = mesh.digest()

    adjacent: dict[str, set[str]] = {info.namespace: set() for info in infos}
    for callee in infos:
        for edge in callee.callers:
            a, b = edge.caller.namespace, callee.namespace
            if a != b:
                adjacent[a].add(b)
                adjacent[b].add(a)
    members: dict[str, list[int]] = {}
    for info in infos:
        members.setdefault(info.namespace, []).append(info.index)
    routed = gateway_targets(index)
    keys = {}
    for ns in sorted(adjacent.keys() | routed.keys()):
        h = hashlib.blake2b(mesh_digest, digest_size=16)
        near = sorted(adjacent.get(ns, ()))
        h.update(f"{ns}\0{','.join(near)}\n".encode())
        for i in sorted(i for n in (ns, *near) for i in members.get(n, ())):
            h.update(digests[i])
        if ns in routed:
            h.update(b"routed\0")
            for i in sorted(routed[ns]):
                h.update(digests[i])
        keys[ns] = h.hexdigest()
    services = {info.key: digests[info.index].hex() for info in infos}
    return UnitKeys(
        keys,
        {ns: frozenset(near) for ns, near in adjacent.items()},
        services,
        gateway_keys(index, mesh_digest, digests),
    )


def gateway_keys(
    index: MeshIndex, mesh_digest: bytes, digests: tuple[bytes, ...]
) -> dict[str, tuple[str, str]]:
    """Each gateway -> (its namespace, the key of its Gateway and VirtualService there): a hash of
    the mesh-wide part (which holds every gateway's own spec), its name and namespace and the
    services its routes send to. None in a multi-cluster mesh (placement decides which gateways a
    cluster gets)."""
    if index.clusters:
        return {}
    out = {}
    for name, (_, gateway) in sorted(index.gateways.items()):
        ns = index.gateway_namespace(gateway)
        h = hashlib.blake2b(mesh_digest, digest_size=16)
        h.update(f"gateway\0{name}\0{ns}\n".encode())
        for i in sorted(route_targets(index, gateway)):
            h.update(digests[i])
        out[name] = (ns, h.hexdigest())
    return out


def route_targets(index: MeshIndex, gateway: Gateway) -> set[int]:
    """The services `gateway`'s routes send to (their place in the spec)."""
    return {info.index for r in gateway.routes if (info := index.resolve(r.to.service)) is not None}


def gateway_targets(index: MeshIndex) -> dict[str, set[int]]:
    """Each namespace a gateway's objects go to (`lower.ingress`: its Gateway and VirtualService in
    the gateway's namespace, the policies on its pods in its workload's) -> the services its
    routes send to (their place in the spec). Those objects are a function of the gateways
    (mesh-wide part of the key) and of what the user wrote for those services (their split,
    versions, ports, timeouts and routes): the namespace's key covers their digests. In a
    multi-cluster mesh which gateways a cluster gets depends on placement: none is keyed."""
    if index.clusters:
        return {}
    out: dict[str, set[int]] = {}
    for _, gateway in index.gateways.values():
        targets = route_targets(index, gateway)
        for ns in (index.gateway_namespace(gateway), gateway.workload.namespace):
            out.setdefault(ns, set()).update(targets)
    return out


def volatile_units(manifests: Iterable[Manifest], index: MeshIndex) -> frozenset[str]:
    """Units holding an object that is neither one of its own services', nor of the namespace as
    a whole (see NAMESPACE_KINDS), nor of a gateway the unit's key covers (`gateway_targets`):
    they are compiled anew every time."""
    out = set()
    for m in manifests:
        unit = unit_of(m)
        owner = m.owner
        if owner is None:
            if m.kind not in NAMESPACE_KINDS:
                out.add(unit)
        elif owner.startswith("egress/"):
            if not _egress_copy_of_callers(index, owner[len("egress/") :], unit):
                out.add(unit)
        elif owner.startswith("gateway/"):
            if not _keyed_gateway_object(index, owner[len("gateway/") :], unit):
                out.add(unit)
        elif not owner.startswith("service/"):
            out.add(unit)
        else:
            info = index.resolve(owner[len("service/") :])
            if info is None or info.namespace != unit:
                out.add(unit)
    return frozenset(out)


def _egress_copy_of_callers(index: MeshIndex, name: str, unit: str) -> bool:
    """Whether an object of egress entry `name` in namespace `unit` is one of the copies written
    into its callers' own namespaces (`lower.egress`): a function of the entry, of which services
    call it (mesh-wide part of the key) and of the callers in `unit` (the unit's own services). In a
    multi-cluster mesh which copies a cluster gets depends on where the callers run: not local."""
    found = index.egress.get(name)
    if found is None or index.clusters:
        return False
    egress = found[1]
    if egress.namespace is not None or (egress.gateway is not None and egress.gateway.namespace == unit):
        return False
    return any(caller.namespace == unit for caller in index.egress_callers(egress))


def _keyed_gateway_object(index: MeshIndex, name: str, unit: str) -> bool:
    """Whether an object of gateway `name` in namespace `unit` is covered by that namespace's key
    (`gateway_targets`): one of the gateway's namespaces, in a single-cluster mesh."""
    found = index.gateways.get(name)
    if found is None or index.clusters:
        return False
    gateway = found[1]
    return unit in (index.gateway_namespace(gateway), gateway.workload.namespace)
