"""A bare service name is held by several namespaces: the reference must say which one.

Why: a service's identity is its namespace and name, and Istio's own tasks put `httpbin` in `foo`
and in `bar`. A bare `httpbin` could mean either; meshc never picks one (not even the caller's own
namespace), because adding `bar/httpbin` to a mesh must not silently retarget every existing
`httpbin` reference: authorization, routing and Sidecars would follow the new service without the
spec saying so. Every kind of reference (calls, gateway routes, egress callers) is checked.

Example:
    services:
      - { name: httpbin, namespace: foo }
      - { name: httpbin, namespace: bar }
      - name: sleep
        namespace: foo
        calls: [{ service: httpbin }]       # foo's or bar's?

Fix: write `namespace/name` (`foo/httpbin` or `bar/httpbin`). A name only one namespace holds may
stay bare.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshc.spec.models import split_reference

from .base import Finding, RuleContext
from .walk import ServiceReference, call_references, mesh_references

CODE = "MC240"
NAME = "ambiguous-service-reference"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The services' calls."""
    yield from _check(ctx, call_references(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """Gateway routes and egress callers."""
    yield from _check(ctx, mesh_references(ctx))


def _check(ctx: RuleContext, references: Iterator[ServiceReference]) -> Iterator[Finding]:
    for ref in references:
        namespaces = ctx.index.namespaces_holding(ref.ref)
        if not namespaces:
            continue
        _, name = split_reference(ref.ref)
        choices = [f"'{ns}/{name}'" for ns in namespaces]
        yield Finding(
            ref.path,
            f"{ref.who} '{name}', a name namespaces {', '.join(namespaces)} each hold",
            f"say which: {' or '.join(choices)}",
        )
