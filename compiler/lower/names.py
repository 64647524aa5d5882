"""The names of compiled objects, defined once for lowering and for the collision rule (MC150).

Objects derived from a service live in the service's namespace, which the spec owns, and keep the
service's name. Objects derived from a gateway or an egress entry live where that gateway or
egress runs: often a namespace that other specs (other teams) share, such as `istio-system`.
Their names start with the mesh name, so two specs with a gateway `public` or an egress `stripe`
do not overwrite each other's objects (a name that already starts with the mesh name is kept as it
is: gateway `bookinfo-gateway` of mesh `bookinfo` stays `bookinfo-gateway`, as in Istio's sample;
MC150 reports the collision if the same spec also has a gateway `gateway`). Namespace-wide objects
take Istio's conventional names (`default`): there is one per namespace, whoever writes it.
"""

from __future__ import annotations

NAMESPACE_POLICY = "default"
"""The namespace-wide PeerAuthentication and Telemetry (and the mesh-wide PeerAuthentication in
the root namespace, with `meshWide: true`)."""
ALLOW_NOTHING = "default-deny"
"""The namespace's allow-nothing AuthorizationPolicy."""
MESH_TELEMETRY = "mesh-default"
"""The mesh-wide Telemetry in the root namespace (`meshWide: true`)."""
EAST_WEST_GATEWAY = "cross-network-gateway"
"""The name Istio's multicluster documentation gives the east-west Gateway (see east_west_gateway)."""


def is_mesh_scoped(mesh: str, name: str) -> bool:
    """What scoping a name by the mesh means: it starts with `<mesh>-`. The verifier checks the
    compiled names in shared namespaces against this, independently of how `mesh_scoped` and the
    functions below build them."""
    return name.startswith(f"{mesh}-")


def mesh_scoped(mesh: str, name: str) -> str:
    """`name`, prefixed with the mesh name unless it already is (is_mesh_scoped holds for it)."""
    return name if is_mesh_scoped(mesh, name) else f"{mesh}-{name}"


def east_west_gateway(mesh: str) -> str:
    """The Gateway exposing the mesh's services to other networks (istio-system, port 15443).

    Istio's own multicluster documentation creates a Gateway `cross-network-gateway` in the same
    namespace, so the bare name would collide with it and with every other mesh's. Always prefixed
    (unlike `mesh_scoped`, which keeps a name that starts with the mesh name: mesh `cross` would
    otherwise get exactly Istio's name)."""
    return f"{mesh}-{EAST_WEST_GATEWAY}"


def mesh_wide_objects(root_namespace: str) -> frozenset[tuple[str, str, str]]:
    """(kind, namespace, name) of the objects `meshWide: true` writes to the root namespace: the
    only objects with fixed names outside the namespaces the spec owns, and the only ones meant to
    apply to every namespace."""
    return frozenset(
        {
            ("PeerAuthentication", root_namespace, NAMESPACE_POLICY),
            ("Telemetry", root_namespace, MESH_TELEMETRY),
        }
    )


def deployment(service: str, version: str) -> str:
    return f"{service}-{version}"


def gateway(mesh: str, name: str) -> str:
    """The Gateway of a declared ingress gateway, and the VirtualService bound to it."""
    return mesh_scoped(mesh, name)


def gateway_jwt(mesh: str, name: str) -> str:
    """The RequestAuthentication of a gateway's `jwt`."""
    return mesh_scoped(mesh, f"{name}-jwt")


def gateway_require_jwt(mesh: str, name: str) -> str:
    """The DENY policy that makes the gateway's token mandatory."""
    return mesh_scoped(mesh, f"{name}-require-jwt")


def service_entry(mesh: str, egress: str) -> str:
    return mesh_scoped(mesh, egress)


def egress_gateway(mesh: str, egress: str) -> str:
    """The Gateway and VirtualService that send an egress entry through its egress gateway."""
    return mesh_scoped(mesh, f"{egress}-egress")


def egress_gateway_subsets(mesh: str, service: str) -> str:
    """The DestinationRule of an egress gateway's Service: one subset per external host of every
    egress entry through it (one rule per host: Istio reads a single DestinationRule per host)."""
    return mesh_scoped(mesh, f"{service}-subsets")


def egress_mesh_leg(mesh: str, egress: str) -> str:
    """The VirtualService in a caller's namespace that sends the caller to the egress gateway."""
    return mesh_scoped(mesh, f"{egress}-egress-mesh")


def gateway_pods_allow(mesh: str, name: str) -> str:
    """The ALLOW policy that exempts a gateway's pods from their namespace's allow-nothing policy."""
    return mesh_scoped(mesh, f"{name}-ingress")


def gateway_require_claims(mesh: str, name: str) -> str:
    """The DENY policy that enforces a gateway route's `requireClaims`."""
    return mesh_scoped(mesh, f"{name}-require-claims")


def gateway_client_ips(mesh: str, name: str) -> str:
    """The DENY policy that limits a gateway's routes to their `remoteIpBlocks`."""
    return mesh_scoped(mesh, f"{name}-client-ips")


def service_require_jwt(service: str) -> str:
    """The DENY policy that makes a service's own `jwt` mandatory and enforces its claims."""
    return f"{service}-require-jwt"


def monitoring(mesh: str, name: str) -> str:
    """An object in the shared monitoring or Grafana namespace (`meshc-sli`, `meshc-dashboard`, ...),
    always prefixed with the mesh: every mesh that declares `observability` writes one."""
    return f"{mesh}-{name}"
