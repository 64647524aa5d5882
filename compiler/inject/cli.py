"""`meshc inject -f FILE|-`: manual sidecar injection of plain Kubernetes manifests, a drop-in for
`istioctl kube-inject` in pipelines. Registered into the main CLI by `register`.

Exit codes follow `meshc.compiler.cli`: 0 written, 1 the input or the spec has errors (nothing is
written), 2 usage or environment (missing file, bad flag value).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from meshc.spec.diagnostics import Diagnostic, SpecError

from ..emit import dump
from ..exits import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .pod import InjectError, skip_reason
from .quantity import QuantityError, canonical
from .settings import INTERCEPTION_MODES, InjectionSettings, ProxyResources
from .workloads import TEMPLATE_PATHS, inject_object, workload_of

INPUT_ERROR = "MC160"

EPILOG = """\
Workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
Pod) get the sidecar exactly as `istioctl kube-inject` of Istio 1.30.3 writes it; other objects
pass through. Settings come from Istio's defaults, then `--spec` (its `sidecarInjector` and
`controlPlane`), then the flags. The output is deterministic: same input and settings, same bytes.

examples:
  meshc inject -f app.yaml | kubectl apply -f -
  meshc inject -f app.yaml --spec mesh.yaml -o app.injected.yaml
  helm template chart | meshc inject -f - --hub registry.example.com/istio --tag 1.30.3 --cni
"""

# flag -> (settings field, how to read it)
_TEXT_FLAGS = {
    "hub": "hub",
    "tag": "tag",
    "revision": "revision",
    "include_ip_ranges": "include_ip_ranges",
    "exclude_ip_ranges": "exclude_ip_ranges",
    "include_inbound_ports": "include_inbound_ports",
    "exclude_inbound_ports": "exclude_inbound_ports",
    "include_outbound_ports": "include_outbound_ports",
    "exclude_outbound_ports": "exclude_outbound_ports",
    "log_level": "log_level",
    "component_log_level": "component_log_level",
    "agent_log_level": "agent_log_level",
    "interception_mode": "interception_mode",
    "cluster_id": "cluster_id",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "inject",
        help="add the Istio sidecar to Kubernetes manifests (like istioctl kube-inject)",
        description="Manual sidecar injection: read Kubernetes manifests, write them with the Istio "
        "sidecar in every workload's pod template.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-f", "--filename", required=True, metavar="FILE", help="manifests to inject, or - for stdin"
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--spec", metavar="SPEC", help="take the settings from a meshc spec (sidecarInjector)")
    p.add_argument("--hub", help="proxy image registry (default docker.io/istio)")
    p.add_argument("--tag", help="proxy image tag (default 1.30.3)")
    p.add_argument("--revision", help="control-plane revision (default: default)")
    p.add_argument(
        "--cni", action=argparse.BooleanOptionalAction, default=None, help="Istio CNI is installed"
    )
    p.add_argument(
        "--hold-application-until-proxy-starts", action=argparse.BooleanOptionalAction, default=None
    )
    p.add_argument("--no-tracing", action="store_true", help="the mesh config turns tracing off")
    for name in ("cpu", "memory", "cpu-limit", "memory-limit"):
        p.add_argument(f"--proxy-{name}", metavar="QUANTITY", help=f"proxy {name.replace('-', ' ')}")
    p.add_argument("--interception-mode", choices=INTERCEPTION_MODES)
    p.add_argument("--status-port", type=int, metavar="PORT")
    for name in ("include-ip-ranges", "exclude-ip-ranges"):
        p.add_argument(f"--{name}", metavar="CIDRS", help="comma-separated (`*`: all)")
    for name in (
        "include-inbound-ports",
        "exclude-inbound-ports",
        "include-outbound-ports",
        "exclude-outbound-ports",
    ):
        p.add_argument(f"--{name}", metavar="PORTS", help="comma-separated")
    p.add_argument("--log-level", help="Envoy log level (default warning)")
    p.add_argument("--component-log-level", help="Envoy component log levels (default misc:error)")
    p.add_argument("--agent-log-level", help="agent log levels (default default:info)")
    p.add_argument("--cluster-id", help="ISTIO_META_CLUSTER_ID (default Kubernetes)")
    p.set_defaults(handler=cmd_inject)


def _usage(message: str) -> int:
    print(f"meshc inject: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _settings(args: argparse.Namespace) -> InjectionSettings:
    settings = InjectionSettings()
    if args.spec:
        from ..pipeline import parse
        from .spec import settings_from_spec

        settings = settings_from_spec(parse(args.spec).mesh)
    changes: dict[str, Any] = {
        field: getattr(args, flag) for flag, field in _TEXT_FLAGS.items() if getattr(args, flag) is not None
    }
    if args.cni is not None:
        changes["cni"] = args.cni
    if args.hold_application_until_proxy_starts is not None:
        changes["hold_application_until_proxy_starts"] = args.hold_application_until_proxy_starts
    if args.no_tracing:
        changes["tracing"] = False
    if args.status_port is not None:
        if not 1 <= args.status_port <= 65535:
            raise ValueError(f"--status-port {args.status_port} is not a port (1-65535)")
        changes["status_port"] = args.status_port
    own = {
        "cpu": args.proxy_cpu,
        "memory": args.proxy_memory,
        "cpu_limit": args.proxy_cpu_limit,
        "memory_limit": args.proxy_memory_limit,
    }
    if any(v is not None for v in own.values()):
        for value in own.values():
            if value is not None:
                canonical(value)  # raises QuantityError for a bad value
        changes["resources"] = ProxyResources(
            **{k: v if v is not None else getattr(settings.resources, k) for k, v in own.items()}
        )
    return replace(settings, **changes)


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def _documents(text: str) -> list[tuple[Any, int]]:
    """Each non-empty document with the line (1-based) it starts on."""
    loader = yaml.SafeLoader(text)
    out = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            document = loader.construct_document(node)
            if document is not None:
                out.append((document, node.start_mark.line + 1))
    finally:
        loader.dispose()
    return out


def cmd_inject(args: argparse.Namespace) -> int:
    display = "<stdin>" if args.filename == "-" else args.filename
    try:
        settings = _settings(args)
    except SpecError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        return EXIT_USAGE if exc.usage else EXIT_INVALID
    except (QuantityError, ValueError) as exc:
        return _usage(str(exc))
    try:
        text = _read(args.filename)
    except OSError as exc:
        return _usage(f"{display}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        return _report([Diagnostic(display, 1, 1, "error", "MC002", "not UTF-8 text")])
    try:
        documents = _documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return _report([Diagnostic(display, line, column, "error", "MC003", f"invalid YAML: {exc}")])

    problems: list[Diagnostic] = []
    out: list[dict[str, Any]] = []
    injected = 0
    for document, line in documents:
        if not isinstance(document, dict):
            problems.append(
                Diagnostic(
                    display,
                    line,
                    1,
                    "error",
                    INPUT_ERROR,
                    "this document is not a Kubernetes object",
                    "each document is a mapping with apiVersion, kind and metadata",
                )
            )
            continue
        try:
            result = inject_object(document, settings, go_defaults=True)
        except InjectError as exc:
            name = (document.get("metadata") or {}).get("name", "?")
            problems.append(
                Diagnostic(
                    display,
                    line,
                    1,
                    "error",
                    INPUT_ERROR,
                    f"{document.get('kind')}/{name}: {exc}",
                    "fix the pod template (or its sidecar annotations) as the message says",
                )
            )
            continue
        if result is not document:
            injected += 1
        elif document.get("kind") in TEMPLATE_PATHS:
            _note_skipped(document, display, line)
        out.append(result)
    if problems:
        return _report(problems)
    stream = "".join(("---\n" if i else "") + dump(doc) for i, doc in enumerate(out))
    if args.output:
        try:
            Path(args.output).write_text(stream, encoding="utf-8")
        except OSError as exc:
            return _usage(f"{args.output}: {exc.strerror or exc}")
    else:
        sys.stdout.write(stream)
    print(f"meshc: injected {injected} of {len(out)} objects", file=sys.stderr)
    return EXIT_OK


def _note_skipped(document: dict[str, Any], display: str, line: int) -> None:
    from .workloads import template_of

    template = template_of(document) or {}
    reason = skip_reason(
        template.get("metadata") or {}, template.get("spec") or {}, workload_of(document).namespace
    )
    if reason:
        name = (document.get("metadata") or {}).get("name", "?")
        print(f"{display}:{line}:1: note: {document['kind']}/{name} left as it is: {reason}", file=sys.stderr)


def _report(diagnostics: list[Diagnostic]) -> int:
    for d in diagnostics:
        print(d.format(), file=sys.stderr)
    return EXIT_INVALID
