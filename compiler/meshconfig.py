"""`meshc mesh-config SPEC`: the `meshConfig` fragment the cluster needs for the spec's telemetry.

A Telemetry names its providers; Istio finds them in `meshConfig.extensionProviders`, which is
installation configuration (istiod's Helm values or an IstioOperator), not a resource meshc
deploys. This command prints the entries for the providers the spec declares, so that what the
Telemetry resources name and what the cluster defines come from one reviewed file. Istio merges
them with its built-in `envoy` and `prometheus` by name. The spec is checked first: an
undeclared provider (MC203) is an error here as in `meshc validate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from meshc.spec.diagnostics import SpecError

from .emit import dump
from .exits import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from .lower.providers import extension_providers

FORMATS = ("helm", "istiooperator")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mesh-config",
        help="print the meshConfig.extensionProviders the spec's Telemetry needs",
        description="Print the `meshConfig` fragment with the extension providers the spec "
        "declares under telemetry.providers: istiod Helm values (`--format helm`, the default: "
        "`helm upgrade istiod istio/istiod -n istio-system --reuse-values -f FILE`) or an "
        "IstioOperator overlay (`--format istiooperator`: `istioctl install -f FILE`). Helm and "
        "istioctl replace a values list as a whole: merge it with providers you already define.",
    )
    p.add_argument("spec", help="spec file or directory")
    p.add_argument("--format", choices=FORMATS, default="helm", help="helm values or an IstioOperator")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(handler=cmd_mesh_config)


def fragment(mesh_name: str, providers: list[dict[str, Any]], fmt: str) -> str:
    mesh_config = {"meshConfig": {"extensionProviders": providers}}
    body: dict[str, Any] = (
        mesh_config
        if fmt == "helm"
        else {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": mesh_config}
    )
    header = (
        f"# meshConfig for mesh '{mesh_name}': the extension providers its Telemetry resources name.\n"
        "# Istio keeps its built-in providers (envoy, prometheus) beside these.\n"
    )
    return header + dump(body)


def cmd_mesh_config(args: argparse.Namespace) -> int:
    from .pipeline import check, parse

    try:
        c = check(parse(args.spec))
    except SpecError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        return EXIT_USAGE if exc.usage else EXIT_INVALID
    for d in c.diagnostics:
        print(d.format(), file=sys.stderr)
    mesh = c.parsed.mesh
    text = fragment(mesh.metadata.name, extension_providers(mesh), args.format)
    if args.output and args.output != "-":
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"meshc: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    return EXIT_OK
