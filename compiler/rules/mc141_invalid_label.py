"""A label key or value, or a selector, is not valid Kubernetes label syntax.

Why: version labels become pod and Deployment labels and DestinationRule subsets, namespace labels
become Namespace labels, and gateway selectors become the `selector` of Gateways,
RequestAuthentications and AuthorizationPolicies. The API server rejects a bad label (the rollout
stops half-way), Istio's CRDs reject a wildcard in `matchLabels`, and a selector that is not label
syntax can never match a pod: the gateway silently serves nothing. Keys are qualified names (an
optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.'); values
have at most 63 of those characters, starting and ending with a letter or digit.

Example:
    gateways:
      - name: public
        selector: { istio: "*" }          # matches no pod; a wildcard in matchLabels is refused

Fix: use the gateway pods' real labels (`istio: ingressgateway`) and plain label syntax.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..k8snames import label_value_error, qualified_name_error
from .base import Finding, RuleContext
from .walk import Path, focused_entries

CODE = "MC141"
NAME = "invalid-label"
SEVERITY = "error"
SCOPE = "namespace"


def _service_labels(ctx: RuleContext) -> Iterator[tuple[Path, Mapping[str, str], str]]:
    for i, svc in focused_entries(ctx):
        for j, version in enumerate(svc.versions):
            yield (
                ("spec", "services", i, "versions", j, "labels"),
                version.labels,
                f"version '{version.name}' of service '{svc.name}'",
            )


def _mesh_labels(ctx: RuleContext) -> Iterator[tuple[Path, Mapping[str, str], str]]:
    spec = ctx.mesh.spec
    for i, ns in enumerate(spec.namespaces):
        yield ("spec", "namespaces", i, "labels"), ns.labels, f"namespace '{ns.name}'"
    for i, gw in enumerate(spec.gateways):
        yield ("spec", "gateways", i, "selector"), gw.selector, f"the selector of gateway '{gw.name}'"
    for i, egress in enumerate(spec.egress):
        if egress.gateway is not None:
            yield (
                ("spec", "egress", i, "gateway", "selector"),
                egress.gateway.selector,
                f"the gateway selector of egress '{egress.name}'",
            )
    if spec.observability is not None:
        # labels of the PrometheusRules and of the dashboard ConfigMaps
        prometheus, grafana = spec.observability.prometheus, spec.observability.grafana
        rules = ("spec", "observability", "prometheus", "ruleLabels")
        yield rules, prometheus.rule_labels, "the Prometheus rule labels"
        yield ("spec", "observability", "grafana", "label"), grafana.label, "the Grafana dashboard label"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:80] + "…")


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The labels of the services' versions."""
    yield from _check(_service_labels(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """Namespaces, gateway selectors and observability labels."""
    yield from _check(_mesh_labels(ctx))


def _check(labelled: Iterator[tuple[Path, Mapping[str, str], str]]) -> Iterator[Finding]:
    hint = (
        "label keys: [prefix/]name, name at most 63 letters, digits, '-', '_', '.'; values the same or empty"
    )
    for path, labels, owner in labelled:
        for key in sorted(labels):
            problem = qualified_name_error(key)
            if problem is not None:
                yield Finding(
                    (*path, key), f"label key {_shown(key)} in {owner} is not valid: {problem}", hint
                )
                continue
            problem = label_value_error(labels[key])
            if problem is not None:
                yield Finding(
                    (*path, key),
                    f"label value {_shown(labels[key])} of '{key}' in {owner} is not valid: {problem}",
                    hint,
                )
