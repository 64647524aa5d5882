"""The rule catalogue: one module per rule, listed here once, in code order.

Codes are stable and append-only. `meshc rules` lists them and `docs/rules.md` is generated from
their docstrings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import import_module
from typing import NamedTuple

from meshc.spec.diagnostics import Diagnostic
from meshc.spec.source import SourceMap

from .base import Finding, Rule, RuleContext
from .walk import service_owner

RULE_MODULES: tuple[str, ...] = (
    "mc101_unknown_reference",
    "mc102_duplicate_name",
    "mc103_invalid_name",
    "mc104_unknown_protocol",
    "mc105_invalid_split",
    "mc106_gateway_host_conflict",
    "mc107_shadowed_route",
    "mc108_ambiguous_route_port",
    "mc109_retries_exceed_timeout",
    "mc110_timeout_budget",
    "mc111_retry_amplification",
    "mc112_claims_without_jwt",
    "mc113_wildcard_egress",
    "mc114_protocol_mismatch",
    "mc115_http_policy_on_tcp",
    "mc116_gateway_tls",
    "mc117_gateway_without_servers",
    "mc118_route_target",
    "mc119_unreachable_service",
    "mc120_invalid_placement",
    "mc121_cross_network_unreachable",
    "mc122_failover_without_outlier_detection",
    "mc123_missing_sidecar",
    "mc124_route_host_not_served",
    "mc125_egress_without_callers",
    "mc126_claims_not_access_control",
    "mc127_plaintext_port_open",
    "mc128_call_conditions_not_enforced",
    "mc129_egress_in_shared_namespace",
    "mc130_gateway_identity_unstated",
    "mc131_jwt_on_shared_gateway",
    "mc140_invalid_trust_domain",
    "mc141_invalid_label",
    "mc142_invalid_revision",
    "mc143_egress_without_hosts",
    "mc144_invalid_jwt",
    "mc145_invalid_telemetry",
    "mc146_invalid_env_name",
    "mc150_name_collision",
    "mc151_root_namespace_settings",
    "mc161_proxy_settings_without_workload",
    "mc162_workload_injection_overridden",
    "mc163_mixed_injection_modes",
    "mc164_unknown_revision",
    "mc165_manual_injection_without_workload",
    "mc170_latency_off_bucket",
    "mc171_telemetry_breaks_slo",
    "mc172_slo_without_http",
    "mc173_destination_only_slo",
    "mc174_tight_objective",
    "mc175_invalid_slo",
    "mc176_slo_not_generated",
    "mc177_secure_scrape_with_operator",
    "mc180_tcp_egress_without_addresses",
    "mc181_fault_disables_retries",
    "mc182_unmatchable_path",
    "mc183_gateway_policy_inexpressible",
    "mc190_invalid_authorization_source",
    "mc191_invalid_ip_block",
    "mc192_plaintext_source_on_strict",
    "mc193_claims_without_service_jwt",
    "mc194_token_not_forwarded",
    "mc195_jwt_on_tcp_ports",
    "mc196_allow_without_default_deny",
    "mc197_open_plaintext_source",
    "mc198_gateway_edge_widened",
    "mc200_tls_origination_without_http",
    "mc201_egress_http_policy_without_http",
    "mc202_tls_origination_port_taken",
    "mc203_undefined_telemetry_provider",
    "mc204_telemetry_provider_kind",
    "mc205_invalid_extension_provider",
    "mc206_tls_origination_credential_without_gateway",
    "mc207_tls_origination_without_host",
    "mc208_invalid_custom_tag",
    "mc209_telemetry_override_without_provider",
    "mc210_budget_blocks_drain",
    "mc211_autoscaling_bounds",
    "mc212_probe_port_undeclared",
    "mc213_limit_below_request",
    "mc214_restricted_namespace_rejects_pods",
    "mc230_invalid_header_name",
    "mc231_proxy_answer_conflict",
    "mc232_invalid_redirect",
    "mc233_cors_policy",
    "mc234_export_hides_callers",
    "mc240_ambiguous_service_reference",
)
"""The catalogue, in code order: adding a rule is adding its module name here."""

RULES: tuple[Rule, ...] = tuple(
    Rule.from_module(import_module(f"{__name__}.{name}")) for name in RULE_MODULES
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


class OwnedFinding(NamedTuple):
    rule: Rule
    finding: Finding
    service: tuple[str, str] | None
    """(namespace, name) of the service a local rule's finding belongs to; None for the findings
    of global rules and of the `check_mesh` parts, which depend on the whole mesh."""


def owned_findings(ctx: RuleContext, rules: tuple[Rule, ...] = RULES) -> list[OwnedFinding]:
    """The findings of the rules for `ctx.focus`: the local findings of the services of the focused
    namespaces (every service without a focus) and every global finding, in the rules' order.

    An incremental compile runs this with the namespaces a change reaches in focus and keeps the
    previous compile's local findings of the other namespaces (docs/rule-scopes.md)."""
    out: list[OwnedFinding] = []
    whole = ctx.unfocused()
    for rule in rules:
        if rule.check_services is not None:
            for finding in rule.check_services(ctx):
                owner = service_owner(ctx.mesh, finding.path)
                if owner is None:
                    raise ValueError(f"{rule.code} is a local rule but reports outside spec.services")
                out.append(OwnedFinding(rule, finding, owner))
        if rule.check_mesh is not None:
            out.extend(OwnedFinding(rule, finding, None) for finding in rule.check_mesh(whole))
    return out


def to_diagnostics(found: Iterable[OwnedFinding], source: SourceMap) -> list[Diagnostic]:
    """Findings as diagnostics at their place in the source, deduplicated, in canonical order."""
    out: list[Diagnostic] = []
    for rule, finding, _ in found:
        file, line, column = source.position(finding.path)
        severity = finding.severity or rule.severity
        out.append(Diagnostic(file, line, column, severity, rule.code, finding.message, finding.hint))
    return sorted(set(out), key=lambda d: d.sort_key)


def run_rules(ctx: RuleContext, source: SourceMap, rules: tuple[Rule, ...] = RULES) -> list[Diagnostic]:
    """Every diagnostic of the rules (for the focused namespaces when `ctx.focus` is set)."""
    return to_diagnostics(owned_findings(ctx, rules), source)


def iter_codes() -> Iterator[str]:
    return (rule.code for rule in RULES)


__all__ = [
    "RULES",
    "RULES_BY_CODE",
    "Finding",
    "OwnedFinding",
    "Rule",
    "RuleContext",
    "owned_findings",
    "run_rules",
    "to_diagnostics",
]
