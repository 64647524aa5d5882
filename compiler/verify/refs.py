"""The Istio documentation each rule of the behaviour model follows (Istio 1.30, istio.io/latest).

Every decision the model records names one of these keys, so `meshc verify` and `meshc can-i` can
say which documented behaviour a verdict rests on, and docs/verify.md lists them.
"""

from __future__ import annotations

DOCS = "https://istio.io/latest/docs"

REFS: dict[str, str] = {
    # security
    "authz-order": f"{DOCS}/reference/config/security/authorization-policy/"
    " (CUSTOM, then DENY, then ALLOW; no ALLOW policy for the workload: allow; ALLOW with no rules:"
    " allow nothing)",
    "authz-scope": f"{DOCS}/reference/config/security/authorization-policy/"
    " (a policy in the root namespace applies to every namespace; without a selector, to every workload"
    " of its namespace)",
    "authz-rule": f"{DOCS}/reference/config/security/authorization-policy/#Rule"
    " (from AND to AND when; each field ORs its values; not* fields negate)",
    "authz-hosts": f"{DOCS}/reference/config/security/authorization-policy/#Operation"
    " (hosts: the Host header as sent, exact / prefix* / *suffix, case-insensitive; a port in the header"
    " is part of it)",
    "authz-ports": f"{DOCS}/reference/config/security/authorization-policy/#Operation"
    " (ports: the port the workload receives on, i.e. the target port)",
    "authz-principals": f"{DOCS}/concepts/security/#dependency-on-mutual-tls"
    " (principals and namespaces come from the peer certificate: plaintext has none)",
    "authz-tcp": f"{DOCS}/tasks/security/authorization/authz-tcp/"
    " (HTTP-only fields on TCP traffic: an ALLOW rule with them never matches, a DENY rule ignores them)",
    "authz-conditions": f"{DOCS}/reference/config/security/conditions/",
    "authz-ip-blocks": f"{DOCS}/reference/config/security/authorization-policy/#Source"
    " (ipBlocks: the connection's peer address; remoteIpBlocks: the client address Envoy derives,"
    " from X-Forwarded-For only when numTrustedProxies says so, default 0)",
    "peer-authn": f"{DOCS}/reference/config/security/peer_authentication/"
    " (workload over namespace over mesh (root namespace); portLevelMtls by target port; UNSET inherits;"
    " default PERMISSIVE)",
    "request-authn": f"{DOCS}/reference/config/security/request_authentication/"
    " (a token that fails validation, e.g. from an issuer no rule names, is rejected; no token: no"
    " request principal)",
    "jwt-claims-routing": f"{DOCS}/tasks/security/authentication/jwt-route/"
    " (@request.auth.claims.* headers in a VirtualService match at ingress gateways only)",
    # traffic
    "sidecar-egress": f"{DOCS}/reference/config/networking/sidecar/#IstioEgressListener"
    " (hosts namespace/dnsName; `.` the Sidecar's namespace, `*` any; no Sidecar: everything exported is"
    " visible)",
    "sidecar-selection": f"{DOCS}/reference/config/networking/sidecar/"
    " (workloadSelector in the workload's namespace first, then the namespace's, then the root namespace's)",
    "registry-only": f"{DOCS}/reference/config/networking/sidecar/#OutboundTrafficPolicy-Mode"
    " (REGISTRY_ONLY: hosts not in the proxy's registry go to the BlackHoleCluster; the mesh default is"
    " ALLOW_ANY)",
    "export-to": f"{DOCS}/reference/config/networking/virtual-service/#VirtualService"
    " (exportTo: `.` own namespace, `*` all, names; default all; same for DestinationRule and ServiceEntry)",
    "vs-order": f"{DOCS}/reference/config/networking/virtual-service/#HTTPRoute"
    " (rules in order, first match wins; no rule matches: 404)",
    "vs-match": f"{DOCS}/reference/config/networking/virtual-service/#HTTPMatchRequest"
    " (conditions in one match AND, matches OR; authority against the header as sent, port included)",
    "vs-weights": f"{DOCS}/reference/config/networking/virtual-service/#HTTPRouteDestination",
    "vs-tls": f"{DOCS}/reference/config/networking/virtual-service/#TLSRoute (sniHosts, port)",
    "dr-lookup": f"{DOCS}/ops/best-practices/traffic-management/#cross-namespace-configuration"
    " (DestinationRule: client namespace, then the service's, then the root namespace)",
    "dr-subsets": f"{DOCS}/reference/config/networking/destination-rule/#Subset"
    " (a subset selects endpoints by labels; routing to an undefined subset fails)",
    "dr-tls": f"{DOCS}/reference/config/networking/destination-rule/#ClientTLSSettings"
    " (port-level settings over the policy's; subset over the rule's)",
    "auto-mtls": f"{DOCS}/ops/configuration/traffic-management/tls-configuration/#auto-mtls"
    " (no client TLS setting: mTLS to workloads with a sidecar, plaintext otherwise; a setting switches"
    " it off)",
    "gateway-selector": f"{DOCS}/reference/config/networking/gateway/"
    " (selector matches gateway pods in any namespace; servers by port, hosts by the request's host)",
    "gateway-vs": f"{DOCS}/reference/config/networking/virtual-service/#VirtualService"
    " (gateways: `ns/name`, or `name` in the VirtualService's namespace; `mesh` for sidecars, the default)",
    "gateway-identity": f"{DOCS}/setup/additional-setup/gateway/"
    " (a gateway proxy calls backends as a client with its own service account's identity)",
    "gateway-install": f"{DOCS}/setup/additional-setup/gateway/"
    " (istioctl's default profile: `istio: ingressgateway` pods run as istio-ingressgateway-service-account;"
    " the helm gateway chart: release `istio-<x>` with label `istio: <x>` runs as service account"
    " `istio-<x>`)",
    "egress-gateway": f"{DOCS}/tasks/traffic-management/egress/egress-gateway/"
    " (two legs: sidecar to the egress gateway, then the gateway to the external host)",
    "egress-gateway-mtls": f"{DOCS}/tasks/traffic-management/egress/egress-gateway/"
    "#apply-kubernetes-network-policies"
    " (only an mTLS leg carries the caller's identity to the egress gateway; gateways take no auto-mTLS)",
    "service-entry": f"{DOCS}/reference/config/networking/service-entry/",
    "k8s-service": "https://kubernetes.io/docs/concepts/services-networking/service/ (selector, targetPort)",
    "east-west": f"{DOCS}/setup/install/multicluster/multi-primary_multi-network/"
    " (endpoints on another network are reached through its east-west gateway, port 15443,"
    " AUTO_PASSTHROUGH; without one they are left out)",
    "k8s-dns": "https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/"
    " (<service>.<namespace>.svc.<cluster-domain> resolves where the Service exists; Istio's multicluster"
    " docs: https://istio.io/latest/docs/ops/configuration/traffic-management/dns-proxy/ for names of"
    " remote clusters)",
}


def ref(key: str) -> str:
    return REFS[key]
