"""`meshc verify SPEC` and `meshc can-i SPEC --from ... --to ...` (registered by compiler/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from meshc.spec.diagnostics import SpecError

from ..exits import EXIT_INVALID, EXIT_OK, EXIT_USAGE


def register(sub: Any) -> None:
    v = sub.add_parser(
        "verify",
        help="probe the compiled output with requests generated from the spec",
        description="Compile SPEC and check, on an offline model of Istio, that every declared edge, "
        "gateway route and egress host works and nothing else does. "
        "Exit 1 when a probe contradicts the spec.",
    )
    v.add_argument("spec")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.add_argument("--all", action="store_true", help="with --format json: every probe, not only failures")
    v.set_defaults(handler=cmd_verify)
    c = sub.add_parser(
        "can-i",
        help="would the compiled mesh let this request through? (an offline `istioctl x authz check`)",
        description="Answer one question with the decision and the resources that made it.",
    )
    c.add_argument("spec")
    c.add_argument("--from", dest="source", required=True, metavar="SVC|gateway/NAME|external")
    c.add_argument("--to", dest="target", required=True, metavar="SVC|HOST")
    c.add_argument("--port", type=int)
    c.add_argument("--method")
    c.add_argument("--path")
    c.add_argument("--host", help="the Host header (default: the destination host)")
    jwt = c.add_mutually_exclusive_group()
    jwt.add_argument("--jwt", metavar="ISSUER", help="present a valid token of ISSUER")
    jwt.add_argument("--no-jwt", action="store_true", help="present no token (the default)")
    c.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="a claim of the token (repeatable)"
    )
    c.add_argument("--plaintext", action="store_true", help="send from the workload without its sidecar")
    c.add_argument(
        "--source-ip",
        metavar="ADDRESS",
        help="the client's address (ipBlocks of a service, remoteIpBlocks of a gateway route); "
        "none by default",
    )
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(handler=cmd_can_i)


def _compile(spec: str) -> Any:
    from .. import parallel

    # The verifier runs here on its own terms (a report, not exit 3), and the self-check is not its
    # business: the compilation without either.
    return parallel.run(spec, schemas=False, behaviour=False)


def _spec_error(exc: SpecError) -> int:
    for d in exc.diagnostics:
        print(d.format(), file=sys.stderr)
    return EXIT_USAGE if exc.usage else EXIT_INVALID


def cmd_verify(args: argparse.Namespace) -> int:
    from . import report as render
    from .check import verify

    try:
        c = _compile(args.spec)
    except SpecError as exc:
        return _spec_error(exc)
    result = verify(c.index, c.manifests)
    if args.format == "json":
        print(json.dumps(render.as_json(result, all_results=args.all), indent=2))
    else:
        sys.stdout.write(render.text(result))
    return EXIT_INVALID if result.bugs else EXIT_OK


def cmd_can_i(args: argparse.Namespace) -> int:
    from .check import configs_for
    from .engine import Model
    from .spec_world import SpecWorld

    try:
        c = _compile(args.spec)
    except SpecError as exc:
        return _spec_error(exc)
    sw = SpecWorld(c.index)
    model = Model(configs_for(c.manifests, c.index), sw.world)
    try:
        outcome, target = _ask(c.index, sw, model, args)
    except ValueError as exc:
        print(f"meshc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    reached = outcome.allowed and all(x.service == target for x in outcome.landings)
    decision = "allow" if reached else "deny" if outcome.denied else "partial"
    if args.format == "json":
        from .refs import REFS

        landings = [
            {
                "weight": x.weight,
                "target": x.target,
                "service": x.service,
                "allowed": x.allowed,
                "reason": x.reason,
                "chain": [{"resource": s.resource, "says": s.says, "ref": REFS[s.ref]} for s in x.chain],
            }
            for x in outcome.landings
        ]
        print(json.dumps({"decision": decision, "landings": landings}, indent=2))
    else:
        print(f"{decision.upper()}: {args.source} -> {args.target}")
        for x in outcome.landings:
            print(f"  {x.weight:.0%} {x.target}: {x.reason}")
            for s in x.chain:
                print(f"    {s.resource}: {s.says}  [{s.ref}]")
    return EXIT_OK if reached else EXIT_INVALID


def _ask(index: Any, sw: Any, model: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """The outcome of the question, and the destination host a yes must reach. ValueError: the
    question names something the spec does not have."""
    from .request import Request, Token

    token = None
    if args.jwt:
        pairs = [x.split("=", 1) for x in args.claim if "=" in x]
        issuers = [g.jwt for _, g in index.gateways.values() if g.jwt]
        issuers += [
            j
            for s in index.services.values()
            if s.model.security and s.model.security.jwt
            for j in s.model.security.jwt.issuers
        ]
        gw_jwt = next((j for j in issuers if j.issuer == args.jwt), None)
        audiences = tuple(gw_jwt.audiences) if gw_jwt else ()
        token = Token(args.jwt, claims=tuple(sorted((k, v) for k, v in pairs)), audiences=audiences)
    for ref in (args.source, args.target):
        held = index.namespaces_holding(ref)
        if held:
            choices = " or ".join(f"{ns}/{ref}" for ns in held)
            raise ValueError(f"service '{ref}' is in namespaces {', '.join(held)}: say which ({choices})")
    target = index.resolve(args.target)
    host = target.fqdn if target is not None else args.target
    method, path = args.method or "GET", args.path or "/"
    if args.source == "external" or args.source.startswith("gateway/"):
        gw = _gateway(index, args, target)
        servers = [s for s in gw.servers if not s.https_redirect] or gw.servers
        port = args.port or (servers[0].port if servers else 80)
        authority = args.host or next((h for h in gw.hosts if "*" not in h), "probe.example.test")
        name = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
        req = Request(
            name, port, "http", method, path, authority=authority, token=token, source_ip=args.source_ip
        )
        return model.ingress(sw.gateways[gw.name][0], req), host
    source = sw.caller(args.source)
    if source is None:
        raise ValueError(f"unknown service '{args.source}'")
    if target is not None:
        chosen = target.port(args.port) if args.port else (target.ports[0] if target.ports else None)
        if chosen is None:
            raise ValueError(f"service '{target.name}' has no port {args.port}")
        http = chosen.protocol in ("http", "http2", "grpc", "grpc-web")
        protocol, port = ("http" if http else "tcp"), chosen.number
    else:  # an external host: its egress entry says the port and protocol
        entry = next((p for _, e in index.egress.values() if args.target in e.hosts for p in e.ports), None)
        port = args.port or (entry.port if entry else 443)
        kind = entry.protocol if entry else "tls"
        protocol = (
            "tls" if kind in ("tls", "https") else "http" if kind in ("http", "http2", "grpc") else "tcp"
        )
    http = protocol == "http"
    req = Request(
        host,
        port,
        protocol,
        method if http else None,
        path if http else None,
        authority=args.host,
        token=token if http else None,
        source_ip=args.source_ip,
    )
    return model.send(source, req, plaintext=args.plaintext), host


def _gateway(index: Any, args: argparse.Namespace, target: Any) -> Any:
    if args.source.startswith("gateway/"):
        name = args.source.split("/", 1)[1]
        if name not in index.gateways:
            raise ValueError(f"unknown gateway '{name}'")
        return index.gateways[name][1]
    for _, gw in index.gateways.values():
        host = (args.host or "").rsplit(":", 1)[0]
        if (host and host in gw.hosts) or (
            not host and target is not None and any(index.resolve(r.to.service) is target for r in gw.routes)
        ):
            return gw
    raise ValueError(
        "no gateway serves that host or routes to that service; name one with --from gateway/NAME"
    )
