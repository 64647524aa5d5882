"""The whole path of a request through the compiled configuration: the caller's proxy (or an
ingress gateway), routing, client TLS, and the receiving proxy's mTLS and authorization.

`Model.send` is a request from a workload inside the mesh; `Model.ingress` a request from outside
to an ingress gateway. Both return an `Outcome`: one `Landing` per weighted branch, each with the
chain of resources that decided it (the keys of refs.REFS say which documented behaviour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from .config import Config, Resource
from .inbound import Inbound, authenticate_jwt, authorize, jwt_rule_for, peer_mode
from .matching import dns_match, host_part
from .outbound import (
    ANSWERS,
    HTTP_APP_PROTOCOLS,
    Destination,
    Scoping,
    client_sni,
    client_tls,
    destination_rule,
    has_section,
    http_route,
    l4_route,
    mtls_sni,
    scoping,
    subset_labels,
    validated_claims,
)
from .request import Landing, Outcome, Request, Step, denied
from .world import Workload, World

MAX_HOPS = 3


class Model:
    def __init__(self, configs: Mapping[str | None, Config], world: World) -> None:
        self.configs = dict(configs)
        self.world = world
        self._scoping: dict[Workload, Scoping] = {}

    def config(self, workload: Workload) -> Config:
        return self.configs.get(workload.cluster) or next(iter(self.configs.values()))

    # --- from a workload ------------------------------------------------------------------------

    def send(
        self, source: Workload, req: Request, *, plaintext: bool = False, scoped: bool = True
    ) -> Outcome:
        """A request from `source` (through its sidecar, unless `plaintext` or it has none).
        `scoped=False`: as if no Sidecar resource limited the caller (authorization alone decides)."""
        config = self.config(source)
        if plaintext or not source.sidecar:
            bare = [
                Step(
                    "world",
                    f"{source.name} sends plaintext without a sidecar: no routing, no identity",
                    "auto-mtls",
                )
            ]
            return Outcome(self._direct(config, source, req, bare))
        scope = scoping(config, source, self._scoping) if scoped else Scoping(None, (), False)
        chain: list[Step] = []
        if scope.sidecar is not None:
            chain.append(
                Step(scope.sidecar.ref, "scopes the caller's outbound configuration", "sidecar-selection")
            )
        found = self._registry(config, scope, source, req.host)
        if found is None:
            if scope.registry_only:
                where = scope.sidecar.ref if scope.sidecar else "mesh-default"
                chain.append(
                    Step(
                        where,
                        f"{req.host} is not in the caller's registry: BlackHoleCluster",
                        "registry-only",
                    )
                )
                return Outcome(
                    [denied(f"502: {req.host} is not visible to {source.name} (REGISTRY_ONLY)", chain)]
                )
            if self._unresolvable(config, req.host):
                return Outcome([self._no_such_service(config, source, req.host, chain)])
            chain.append(
                Step("mesh-default", f"{req.host} unknown: PassthroughCluster (ALLOW_ANY)", "registry-only")
            )
            if self._is_cluster_host(config, req.host):
                return Outcome(self._direct(config, source, req, chain))
            return Outcome(
                [
                    Landing(
                        1.0,
                        f"external:{req.host}",
                        True,
                        "reached through PassthroughCluster",
                        tuple(chain),
                        service=req.host,
                    )
                ]
            )
        chain.append(Step(found.ref, f"{req.host} is visible to the caller", "sidecar-egress"))
        return Outcome(self._route(config, scope, source, req, chain, gateway="mesh", claims=None, hops=0))

    def _registry(self, config: Config, scope: Scoping, source: Workload, host: str) -> Resource | None:
        """The Service or ServiceEntry the caller's proxy knows `host` by (export-to, sidecar-egress)."""
        svc = config.services.get(host)
        candidates = [svc] if svc is not None else []
        installed = self.world.installed.get(host)
        if installed is not None:
            candidates.append(Resource("Service", installed.namespace, host.split(".")[0], {"ports": []}, {}))
        candidates += config.service_entries(host)
        for res in candidates:
            exported = res.kind == "Service" or res.exported_to(source.namespace)
            if exported and scope.sees(res.namespace, host, source.namespace):
                return res
        return None

    def _is_cluster_host(self, config: Config, host: str) -> bool:
        return host in config.services

    def _unresolvable(self, config: Config, host: str) -> bool:
        """A Service name of the cluster domain with no Service in this cluster (the spec places the
        service in another cluster only): the client's DNS lookup fails (k8s-dns)."""
        return (
            host.endswith(f".svc.{config.cluster_domain}")
            and host not in config.services
            and host not in self.world.installed
        )

    def _no_such_service(self, config: Config, source: Workload, host: str, chain: list[Step]) -> Landing:
        where = f" in cluster {source.cluster}" if source.cluster else ""
        chain.append(Step("world", f"no Service {host}{where}: the name does not resolve", "k8s-dns"))
        return denied(f"503: {host} does not resolve{where} (no Service)", chain)

    def _route(
        self,
        config: Config,
        scope: Scoping | None,
        source: Workload,
        req: Request,
        chain: list[Step],
        *,
        gateway: str,
        claims: Mapping[str, str] | None,
        hops: int,
        vs: Resource | None = None,
    ) -> list[Landing]:
        http = req.http and self._port_is_http(config, req.host, req.port)
        req = req if http or not req.http else replace(req, protocol="tcp")
        dests: list[Destination] | None
        if vs is None:
            vs = self._virtual_service(config, scope, source, req)
        if vs is not None and has_section(vs, req):
            if req.http:
                dests, where = http_route(vs, req, gateway=gateway, source=source, claims=claims)
            else:
                dests, where = l4_route(vs, req, gateway=gateway, source=source)
            if dests is None and req.http:
                chain.append(Step(vs.ref, "no HTTP rule matches", "vs-order"))
                return [denied(f"404: no route of {vs.ref} matches", chain)]
            if dests == [] and ANSWERS in where:
                # vs-order: a redirect or direct response rule: the proxy answers, no backend is called
                chain.append(Step(vs.ref, where, "vs-order"))
                answer = where.split(ANSWERS, 1)[1]
                return [denied(f"{answer}: answered by the caller's proxy ({vs.ref})", chain)]
            if dests is not None:
                chain.append(Step(vs.ref, f"{where} routes the request", "vs-order"))
        else:
            dests = None
        if dests is None:
            dests = [Destination(req.host, None, req.port, 1.0, req.path, None, "default")]
        landings: list[Landing] = []
        for d in dests:
            host = d.host if "." in d.host else config.fqdn(d.host, vs.namespace if vs else source.namespace)
            moved = host != req.host  # the client's Host header and SNI stay what it sent
            authority = d.authority or (req.host_header if moved else req.authority)
            branch = req.toward(host, d.port, d.path, authority, req.server_name if moved else req.sni)
            for x in self._to_destination(config, scope, source, branch, d, list(chain), hops):
                landings.append(x.scaled(d.weight))
        return landings

    def _port_is_http(self, config: Config, host: str, port: int) -> bool:
        svc = config.services.get(host)
        if svc is not None:
            for p in svc.spec.get("ports", []):
                if p.get("port") == port:
                    proto = p.get("appProtocol") or str(p.get("name", "")).split("-", 1)[0]
                    return proto in HTTP_APP_PROTOCOLS
            return False
        for se in config.service_entries(host):
            for p in se.spec.get("ports", []):
                if p.get("number") == port:
                    return str(p.get("protocol", "")).lower() in HTTP_APP_PROTOCOLS
        return True

    def _virtual_service(
        self, config: Config, scope: Scoping | None, source: Workload, req: Request
    ) -> Resource | None:
        for vs in sorted(config.virtual_services_for(req.host), key=lambda r: (r.namespace, r.name)):
            gateways = vs.spec.get("gateways") or ["mesh"]
            if "mesh" not in gateways or not vs.exported_to(source.namespace):
                continue
            if scope is not None and not any(
                scope.sees(vs.namespace, h, source.namespace) for h in vs.spec.get("hosts", [])
            ):
                continue
            return vs
        return None

    def _to_destination(
        self,
        config: Config,
        scope: Scoping | None,
        source: Workload,
        req: Request,
        d: Destination,
        chain: list[Step],
        hops: int,
    ) -> list[Landing]:
        host = req.host
        if scope is not None:
            found = self._registry(config, scope, source, host)
            if found is None:
                chain.append(Step(d.rule, f"routes to {host}, which the caller cannot see", "sidecar-egress"))
                return [denied(f"503: route destination {host} is not visible to {source.name}", chain)]
        entries = (
            [] if host in config.services or host in self.world.installed else config.service_entries(host)
        )
        if entries:
            visible = [e for e in entries if e.exported_to(source.namespace)]
            if not visible:
                chain.append(Step(entries[0].ref, f"not exported to {source.namespace}", "export-to"))
                return [denied(f"503: {entries[0].ref} is not exported to {source.namespace}", chain)]
            chain.append(Step(visible[0].ref, f"{host} leaves the mesh", "service-entry"))
            return [Landing(1.0, f"external:{host}", True, f"reached {host}", tuple(chain), service=host)]
        svc_ns, selector, target = self._endpoints_spec(config, host, req.port)
        if svc_ns is None:
            chain.append(Step("world", f"no Service {host}", "k8s-service"))
            return [denied(f"503: no service {host}", chain)]
        dr = destination_rule(config, host, source.namespace, svc_ns)
        if d.subset is not None:
            labels = subset_labels(dr, d.subset)
            if labels is None:
                chain.append(Step(dr.ref if dr else "-", f"defines no subset {d.subset}", "dr-subsets"))
                return [denied(f"503: subset {d.subset} of {host} is not defined", chain)]
            selector = {**selector, **labels}
        endpoints = self.world.selected(svc_ns, selector)
        remote = [e for e in endpoints if not self._reaches_network(source, e)]
        if remote:
            endpoints = [e for e in endpoints if e not in remote]
            if not endpoints:
                where = ", ".join(sorted({str(e.cluster) for e in remote}))
                chain.append(
                    Step(
                        "-",
                        f"{host} runs only on another network ({where}), which has no east-west gateway",
                        "east-west",
                    )
                )
                return [denied(f"503: no reachable endpoints for {host} (no east-west gateway)", chain)]
        if not endpoints:
            chain.append(
                Step(
                    dr.ref if dr else host,
                    f"no workload matches {dict(sorted(selector.items()))}",
                    "dr-subsets",
                )
            )
            return [denied(f"503: no endpoints for {host} {d.subset or ''}".strip(), chain)]
        mode, decided = client_tls(config, dr, d.subset, req.port)
        share = 1.0 / len(endpoints)
        out = []
        for e in sorted(endpoints, key=lambda w: w.name):
            link = list(chain)
            mtls = self._client_sends_mtls(mode, e, target)
            link.append(
                Step(
                    decided,
                    f"client TLS {mode or 'auto'}: {'mTLS' if mtls else 'plaintext'} to {e.name}",
                    "dr-tls" if mode else "auto-mtls",
                )
            )
            sni = (
                mtls_sni(client_sni(dr, d.subset, req.port), host, d.subset, req.port)
                if mtls
                else _app_sni(req)
            )
            landing = self._deliver(source, e, req, target, mtls, link, hops, service=host, sni=sni)
            out.append(landing.scaled(share))
        return out

    def _reaches_network(self, source: Workload, endpoint: Workload) -> bool:
        """east-west: an endpoint on another network is reached through the east-west gateway of
        its cluster (a Gateway with an AUTO_PASSTHROUGH server on 15443); Istio leaves endpoints of
        a network without one out of the caller's load balancing."""
        networks = self.world.networks
        if source.cluster is None or endpoint.cluster is None or not networks:
            return True
        if networks.get(source.cluster) == networks.get(endpoint.cluster):
            return True
        config = self.configs.get(endpoint.cluster)
        return config is not None and any(
            server.get("port", {}).get("number") == 15443
            and (server.get("tls") or {}).get("mode") == "AUTO_PASSTHROUGH"
            for gateway in config.by_kind.get("Gateway", [])
            for server in gateway.spec.get("servers", [])
        )

    def _endpoints_spec(self, config: Config, host: str, port: int) -> tuple[str | None, dict[str, str], int]:
        svc = config.services.get(host)
        if svc is not None:
            target = port
            for p in svc.spec.get("ports", []):
                if p.get("port") == port:
                    target = int(p.get("targetPort", port))
            return svc.namespace, dict(svc.spec.get("selector") or {}), target
        installed = self.world.installed.get(host)
        if installed is not None:
            return installed.namespace, dict(installed.selector), port
        return None, {}, port

    def _client_sends_mtls(self, mode: str | None, endpoint: Workload, target: int) -> bool:
        if mode is not None:
            return mode == "ISTIO_MUTUAL"
        # auto-mtls: mTLS to workloads with a sidecar (not to gateways), unless they disable it
        if not endpoint.sidecar or endpoint.gateway:
            return False
        return peer_mode(self.config(endpoint), endpoint, target)[0] != "DISABLE"

    def _direct(self, config: Config, source: Workload, req: Request, chain: list[Step]) -> list[Landing]:
        if self._unresolvable(config, req.host):
            return [self._no_such_service(config, source, req.host, chain)]
        svc_ns, selector, target = self._endpoints_spec(config, req.host, req.port)
        if svc_ns is None:
            return [
                Landing(1.0, f"external:{req.host}", True, "reached directly", tuple(chain), service=req.host)
            ]
        endpoints = self.world.selected(svc_ns, selector)
        if not endpoints:
            return [denied(f"503: no endpoints for {req.host}", chain)]
        share = 1.0 / len(endpoints)
        return [
            x.scaled(share)
            for x in (
                self._deliver(
                    source, e, req, target, False, list(chain), 0, service=req.host, sni=_app_sni(req)
                )
                for e in sorted(endpoints, key=lambda w: w.name)
            )
        ]

    # --- at the receiving proxy -----------------------------------------------------------------

    def _deliver(
        self,
        source: Workload,
        e: Workload,
        req: Request,
        target: int,
        mtls: bool,
        chain: list[Step],
        hops: int,
        *,
        service: str,
        sni: str | None,
    ) -> Landing:
        """`sni`: the server name of the connection as it arrives (an mTLS leg's own, see
        outbound.mtls_sni; the application's for TLS it originates; None for plaintext)."""
        config = self.config(e)
        if e.gateway:
            return self._egress_gateway(source, e, req, mtls, chain, hops, sni)
        if not e.sidecar:
            if mtls:
                chain.append(Step("world", f"{e.name} has no sidecar to terminate mTLS", "auto-mtls"))
                return denied(f"503: mTLS sent to {e.name}, which has no sidecar (connection reset)", chain)
            chain.append(Step("world", f"{e.name} has no sidecar: nothing is enforced", "auto-mtls"))
            return Landing(
                1.0, e.name, True, "delivered (no sidecar: no policy)", tuple(chain), req.path, service
            )
        mode, decided = peer_mode(config, e, target)
        if not mtls and mode == "STRICT":
            chain.append(Step(decided, f"STRICT on port {target}: plaintext rejected", "peer-authn"))
            return denied(f"503: {decided} requires mTLS on port {target}; the request is plaintext", chain)
        if mtls and mode == "DISABLE":
            chain.append(Step(decided, f"DISABLE on port {target}: mTLS not terminated", "peer-authn"))
            return denied(f"503: mTLS sent to port {target} where {decided} disables it", chain)
        chain.append(
            Step(
                decided, f"{mode} on port {target}: {'mTLS' if mtls else 'plaintext'} accepted", "peer-authn"
            )
        )
        principal = source.principal(self.world.trust_domain) if mtls else None
        token = None
        if req.http:
            rejected, step = authenticate_jwt(config, e, req.token)
            if step is not None:
                chain.append(step)
            if rejected:
                return denied(rejected, chain)
            token = req.token if step is not None else None
        claims = validated_claims(token, token is not None)
        inbound = Inbound(
            target_port=target,
            http=req.http,
            principal=principal,
            host=req.host_header,
            method=req.method,
            path=req.path,
            headers=req.headers,
            request_principal=f"{token.issuer}/{token.subject}" if token else None,
            claims=tuple(sorted((claims or {}).items())),
            sni=sni,
            source_ip=req.source_ip,
            remote_ip=req.source_ip,
        )
        ok, reason, steps = authorize(config, e, inbound)
        chain.extend(steps)
        return Landing(
            1.0,
            e.name if ok else "-",
            ok,
            reason,
            tuple(chain),
            req.path if ok else None,
            service if ok else None,
        )

    def _egress_gateway(
        self,
        source: Workload,
        gw: Workload,
        req: Request,
        mtls: bool,
        chain: list[Step],
        hops: int,
        sni: str | None,
    ) -> Landing:
        """egress-gateway: the second leg, from the gateway to the external host. A server is chosen
        by the SNI of the connection the gateway terminates (for an mTLS leg the DestinationRule's
        `sni`, which is why Istio's egress task sets it to the external host), and that SNI is what
        a `connection.sni` condition sees (authz-conditions)."""
        config = self.config(gw)
        if hops >= MAX_HOPS:
            chain.append(Step(gw.name, "the request came back to a gateway too often", "egress-gateway"))
            return denied("508: routing loop through gateways", chain)
        name = req.server_name if req.protocol == "tls" else host_part(req.host_header)
        served = sni if mtls and sni else name  # an mTLS leg is matched by its own SNI
        server, gateway = self._server(config, gw, req.port, served)
        if server is None or gateway is None:
            chain.append(
                Step("-", f"no Gateway server of {gw.name} for {served}:{req.port}", "gateway-selector")
            )
            return denied(f"404: {gw.name} serves no {served}:{req.port}", chain)
        tls_mode = (server.get("tls") or {}).get("mode")
        if tls_mode == "ISTIO_MUTUAL" and not mtls:
            chain.append(
                Step(gateway.ref, "ISTIO_MUTUAL server: the plaintext leg is refused", "egress-gateway-mtls")
            )
            return denied(f"503: {gateway.ref} expects mTLS from sidecars", chain)
        if tls_mode == "PASSTHROUGH" and mtls:
            chain.append(
                Step(gateway.ref, "PASSTHROUGH server: an mTLS-wrapped leg does not match", "egress-gateway")
            )
            return denied(f"503: mTLS sent to the PASSTHROUGH server of {gateway.ref}", chain)
        chain.append(
            Step(
                gateway.ref,
                f"server {server.get('port', {}).get('name', req.port)} accepts {name}",
                "gateway-selector",
            )
        )
        principal = source.principal(self.world.trust_domain) if mtls else None
        http = str(server.get("port", {}).get("protocol", "")).lower() in HTTP_APP_PROTOCOLS and req.http
        inbound = Inbound(
            target_port=req.port,
            http=http,
            principal=principal,
            host=req.host_header,
            method=req.method,
            path=req.path,
            sni=sni,
        )
        ok, reason, steps = authorize(config, gw, inbound)
        chain.extend(steps)
        if not ok:
            return denied(reason, chain)
        if principal is None:
            chain.append(
                Step(
                    gateway.ref,
                    "the leg carries no caller identity: the gateway cannot tell callers apart",
                    "egress-gateway-mtls",
                )
            )
        forwarded = replace(req, host=name, sni=None) if req.protocol == "tls" else replace(req, host=name)
        vs = self._bound_virtual_service(config, gateway, name)
        gw_ref = f"{gateway.namespace}/{gateway.name}"
        landings = self._route(
            config, None, gw, forwarded, chain, gateway=gw_ref, claims=None, hops=hops + 1, vs=vs
        )
        # One branch: meshc's egress routes have a single destination (a split would be averaged away).
        return landings[0] if landings else denied("404: nothing routes", chain)

    def _server(
        self, config: Config, gw: Workload, port: int, name: str
    ) -> tuple[dict | None, Resource | None]:
        for gateway in sorted(config.gateways_selecting(gw), key=lambda r: (r.namespace, r.name)):
            for server in gateway.spec.get("servers", []):
                if server.get("port", {}).get("number") != port:
                    continue
                if any(dns_match(h.split("/", 1)[-1], name) for h in server.get("hosts", [])):
                    return dict(server), gateway
        return None, None

    def _bound_virtual_service(self, config: Config, gateway: Resource, name: str) -> Resource | None:
        """gateway-vs: VirtualServices naming the Gateway (`ns/name`, or `name` in their namespace)."""
        full = f"{gateway.namespace}/{gateway.name}"
        for vs in sorted(config.bound.get(full, []), key=lambda r: (r.namespace, r.name)):
            if any(dns_match(h, name) for h in vs.spec.get("hosts", [])):
                return vs
        return None

    # --- from outside, through an ingress gateway ------------------------------------------------

    def ingress(self, gw: Workload, req: Request) -> Outcome:
        """A client outside the mesh sends `req` (Host header `req.authority`) to gateway `gw`."""
        config = self.config(gw)
        chain: list[Step] = []
        rejected, step = authenticate_jwt(config, gw, req.token)
        if step is not None:
            chain.append(step)
        if rejected:
            return Outcome([denied(rejected, chain)])
        validated = req.token is not None and step is not None
        name = host_part(req.host_header)
        server, gateway = self._server(config, gw, req.port, name)
        if server is None or gateway is None:
            chain.append(
                Step("-", f"no Gateway server of this output for {name}:{req.port}", "gateway-selector")
            )
            return Outcome([denied(f"404: no server for {name}:{req.port} in this output", chain)])
        if (server.get("tls") or {}).get("httpsRedirect"):
            chain.append(Step(gateway.ref, "httpsRedirect: 301 to https", "gateway-selector"))
            return Outcome([denied("301: redirected to HTTPS", chain)])
        chain.append(
            Step(
                gateway.ref, f"server {server.get('port', {}).get('name')} serves {name}", "gateway-selector"
            )
        )
        protocol = str(server.get("port", {}).get("protocol", "HTTP")).lower()
        http = protocol in HTTP_APP_PROTOCOLS
        req = req if http else replace(req, protocol="tcp")
        token = req.token if validated else None
        claims = validated_claims(token, validated)
        inbound = Inbound(
            target_port=req.port,
            http=http,
            principal=None,
            host=req.host_header,
            method=req.method,
            path=req.path,
            headers=req.headers,
            request_principal=f"{token.issuer}/{token.subject}" if token else None,
            claims=tuple(sorted((claims or {}).items())),
            sni=name if server.get("tls") else None,  # a TLS server: the client's SNI is the host
            source_ip=req.source_ip,
            # numTrustedProxies 0 (Istio's default): X-Forwarded-For is not believed, the client is
            # the connection's peer (authz-ip-blocks).
            remote_ip=req.source_ip,
        )
        ok, reason, steps = authorize(config, gw, inbound)
        chain.extend(steps)
        if not ok:
            return Outcome([denied(reason, chain)])
        vs = self._bound_virtual_service(config, gateway, name)
        if vs is None:
            chain.append(Step(gateway.ref, f"no VirtualService bound for {name}", "gateway-vs"))
            return Outcome([denied(f"404: no VirtualService for {name} on {gateway.ref}", chain)])
        gw_ref = f"{gateway.namespace}/{gateway.name}"
        chain.append(
            Step(gw.name, f"calls the backend as {gw.principal(self.world.trust_domain)}", "gateway-identity")
        )
        # The backend's peer is the gateway pod; a token the gateway validated reaches it only with
        # `forwardOriginalToken` (request-authn-forward).
        forwarded = req.token
        if validated and req.token is not None:
            rule = jwt_rule_for(config, gw, req.token.issuer)
            if rule is not None and not rule.get("forwardOriginalToken"):
                forwarded = None
                chain.append(
                    Step(gw.name, "removes the validated token (no forwardOriginalToken)", "request-authn")
                )
        req = replace(req, token=forwarded, source_ip=None)
        return Outcome(
            self._route(config, None, gw, req, chain, gateway=gw_ref, claims=claims, hops=0, vs=vs)
        )


def _app_sni(req: Request) -> str | None:
    """The server name of TLS the application originates itself; plaintext has none."""
    return req.server_name if req.protocol == "tls" else None
