"""`meshc verify SPEC` and `meshc can-i SPEC --from ... --to ...` (registered by compiler/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mesh_spec.diagnostics import SpecError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


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
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(handler=cmd_can_i)


def _compile(spec: str) -> Any:
    from ..pipeline import STAGES, run, self_check

    return run(spec, stages=tuple(s for s in STAGES if s is not self_check and s.__name__ != "verify_output"))


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
    return EXIT_OK if result.ok else EXIT_INVALID


def cmd_can_i(args: argparse.Namespace) -> int:
    from .check import configs_for
    from .engine import Model
    from .request import Request, Token
    from .spec_world import SpecWorld

    try:
        c = _compile(args.spec)
    except SpecError as exc:
        return _spec_error(exc)
    index = c.index
    sw = SpecWorld(index)
    model = Model(configs_for(c.manifests, index), sw.world)
    problem = None
    token = None
    if args.jwt:
        pairs = [x.split("=", 1) for x in args.claim if "=" in x]
        claims = tuple(sorted((k, v) for k, v in pairs))
        gw_jwt = next(
            (gw.jwt for _, gw in index.gateways.values() if gw.jwt and gw.jwt.issuer == args.jwt), None
        )
        token = Token(args.jwt, claims=claims, audiences=tuple(gw_jwt.audiences) if gw_jwt else ())
    target = index.services.get(args.target)
    host = target.fqdn if target is not None else args.target
    port = args.port
    protocol = "http"
    if target is not None:
        chosen = target.port(port) if port else (target.ports[0] if target.ports else None)
        if chosen is None:
            problem = f"service '{target.name}' has no port {port}"
        else:
            port = chosen.number
            protocol = "http" if chosen.protocol in ("http", "http2", "grpc", "grpc-web") else "tcp"
    if args.source == "external" or args.source.startswith("gateway/"):
        name = args.source.split("/", 1)[1] if "/" in args.source else next(iter(sw.gateways), "")
        pods = sw.gateways.get(name)
        if not pods:
            problem = f"unknown gateway '{name}'"
        else:
            gw = index.gateways[name][1]
            port = args.port or next((s.port for s in gw.servers if not s.https_redirect), 80)
            authority = args.host or (args.target if target is None else (gw.hosts[0] if gw.hosts else "*"))
            req = Request(
                authority.split(":")[0],
                port,
                "http",
                args.method or "GET",
                args.path or "/",
                authority=authority,
                token=token,
            )
            outcome = (
                None
                if problem
                else (
                    model.ingress(pods[0], req)
                    if args.source == "external"
                    else model.send(
                        pods[0],
                        Request(
                            host,
                            port or 80,
                            protocol,
                            args.method or "GET",
                            args.path or "/",
                            authority=args.host,
                            token=token,
                        ),
                    )
                )
            )
    else:
        source = sw.caller(args.source)
        if source is None:
            problem = f"unknown service '{args.source}'"
            outcome = None
        else:
            if port is None:
                port = next(
                    (p.port for _, e in index.egress.values() if args.target in e.hosts for p in e.ports), 443
                )
                protocol = "tls"
            method = (args.method or "GET") if protocol == "http" else None
            path = (args.path or "/") if protocol == "http" else None
            req = Request(host, port, protocol, method, path, authority=args.host, token=token)
            outcome = model.send(source, req, plaintext=args.plaintext)
    if problem is not None or outcome is None:
        print(f"meshc: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        from .refs import REFS

        print(
            json.dumps(
                {
                    "decision": outcome.decision,
                    "landings": [
                        {
                            "weight": x.weight,
                            "target": x.target,
                            "allowed": x.allowed,
                            "reason": x.reason,
                            "chain": [
                                {"resource": s.resource, "says": s.says, "ref": REFS[s.ref]} for s in x.chain
                            ],
                        }
                        for x in outcome.landings
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"{outcome.decision.upper()}: {args.source} -> {args.target}")
        for x in outcome.landings:
            print(f"  {x.weight:.0%} {x.target}: {x.reason}")
            for s in x.chain:
                print(f"    {s.resource}: {s.says}  [{s.ref}]")
    return EXIT_OK if outcome.allowed else EXIT_INVALID
