"""The service's own routes, seen from a gateway route: one match that holds exactly when both the
gateway route's match and the service route's match hold.

A gateway's Envoy routes with the gateway's VirtualService only (the service's mesh VirtualService
is for sidecars), so applying the service's header routes to ingress traffic means writing them
into the gateway's rules, ANDed with the gateway route's own match. Two facts make that more than
a union of conditions: the service route sees the path *after* the gateway route's `rewrite.uri`,
and its `port` is the service port the gateway route targets. What Istio cannot say in one match
(two regexes on the path, two different values for one header) is reported by MC183.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshc.spec.models import Match, StringMatch


@dataclass(frozen=True, slots=True)
class Never:
    """No request satisfies both matches: the service route never applies to this gateway route."""


@dataclass(frozen=True, slots=True)
class Inexpressible:
    """Both matches can hold together, but no single Istio match says so."""

    reason: str


NEVER = Never()
Combined = Match | Never | Inexpressible


def _kind(sm: StringMatch) -> tuple[str, str]:
    for kind in ("exact", "prefix", "regex"):
        value = getattr(sm, kind)
        if value is not None:
            return kind, value
    return "prefix", ""  # malformed (MC118); never reached on a spec the rules accepted


_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _literal_prefix(regex: str) -> str:
    """What every string a regex matches in full starts with (Envoy matches the whole value); ""
    when that is not plain to see (an alternation anywhere)."""
    body = regex[1:] if regex.startswith("^") else regex
    if "|" in body:
        return ""
    out: list[str] = []
    for c in body:
        if c in _REGEX_SPECIAL:
            if c in "*?{" and out:
                out.pop()  # the character before a quantifier may be absent
            break
        out.append(c)
    return "".join(out)


def _disjoint(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether no value can match both (by what each must start with; exact values in full)."""
    starts = [_literal_prefix(v) if k == "regex" else v for k, v in (a, b)]
    for (kind, value), other in ((a, starts[1]), (b, starts[0])):
        if kind == "exact" and not value.startswith(other):
            return True
    return not (starts[0].startswith(starts[1]) or starts[1].startswith(starts[0]))


def _both(
    gateway: StringMatch | None, service: StringMatch | None, what: str
) -> StringMatch | Never | Inexpressible | None:
    """One StringMatch for both (None: no condition), as Istio's exact and prefix allow."""
    if gateway is None or service is None:
        return gateway or service
    (gk, gv), (sk, sv) = _kind(gateway), _kind(service)
    if "regex" in (gk, sk):
        if (gk, gv) == (sk, sv):
            return gateway
        if _disjoint((gk, gv), (sk, sv)):
            return NEVER
        return Inexpressible(f"both match {what} and one of them by regex")
    if gk == sk == "exact":
        return gateway if gv == sv else NEVER
    if gk == sk == "prefix":
        if gv.startswith(sv):
            return gateway
        return service if sv.startswith(gv) else NEVER
    exact, prefix = (gv, sv) if gk == "exact" else (sv, gv)
    return StringMatch(exact=exact) if exact.startswith(prefix) else NEVER


def _rewritten_path(
    gateway: StringMatch | None, rewrite: str, service: StringMatch
) -> StringMatch | Never | Inexpressible:
    """The requests of a gateway route that rewrites its path to `rewrite` whose rewritten path the
    service's path match takes, as a match on the path the client sent."""
    if gateway is None:
        return Inexpressible("the gateway route rewrites every path and the service route matches the path")
    (gk, gv), (sk, sv) = _kind(gateway), _kind(service)
    if "regex" in (gk, sk):
        return Inexpressible("the gateway route rewrites the path and one of the two matches it by regex")
    if gk == "exact":  # the service sees exactly `rewrite`
        hit = rewrite == sv if sk == "exact" else rewrite.startswith(sv)
        return gateway if hit else NEVER
    # prefix gv -> rewrite: the client's `gv + rest` reaches the service as `rewrite + rest`
    if sk == "prefix" and rewrite.startswith(sv):
        return gateway
    if sv.startswith(rewrite):
        rest = sv[len(rewrite) :]
        return StringMatch(exact=gv + rest) if sk == "exact" else StringMatch(prefix=gv + rest)
    return NEVER


def _merge_maps(
    what: str, a: dict[str, StringMatch], b: dict[str, StringMatch]
) -> dict[str, StringMatch] | Never | Inexpressible:
    out = dict(a)
    for key, value in b.items():
        both = _both(out.get(key), value, f"{what} '{key}'")
        if isinstance(both, Never | Inexpressible):
            return both
        if both is not None:
            out[key] = both
    return out


def combine(
    gateway: Match | None, service: Match | None, rewrite: str | None, port: int | None, *, build: bool = True
) -> Combined:
    """One match for "the gateway route's `gateway` and the service route's `service` both hold";
    None for either means "every request". `port` is the service port the gateway route targets.
    `build=False`: whether one exists only (NEVER, Inexpressible, or some Match, not that one)."""
    g = gateway or Match()
    s = service or Match()
    if s.port is not None and port is not None and s.port != port:
        return NEVER  # the service route is for another of the service's ports
    if s.path is None:
        path: StringMatch | Never | Inexpressible | None = g.path
    elif rewrite:
        path = _rewritten_path(g.path, rewrite, s.path)
    else:
        path = _both(g.path, s.path, "the path")
    method = _both(g.method, s.method, "the method")
    merged: dict[str, dict[str, StringMatch]] = {}
    parts: list[object] = [path, method]
    for field, label in (
        ("headers", "the header"),
        ("query", "the query parameter"),
        ("claims", "the claim"),
    ):
        found = _merge_maps(label, getattr(g, field), getattr(s, field))
        parts.append(found)
        if isinstance(found, dict):
            merged[field] = found
    if any(isinstance(part, Never) for part in parts):
        return NEVER  # never together, even where the rest cannot be said
    for part in parts:
        if isinstance(part, Inexpressible):
            return part
    assert not isinstance(path, Never | Inexpressible) and not isinstance(method, Never | Inexpressible)
    if not build:
        return g
    return g.model_copy(
        update={
            "path": path,
            "method": method,
            "headers": merged["headers"],
            "query": merged["query"],
            "claims": merged["claims"],
        }
    )


def rewrite_for(gateway: Match | None, combined: Match, rewrite: str) -> str:
    """The `rewrite.uri` of a combined match. Istio replaces the *matched* prefix, so where the
    service route narrowed the gateway's prefix `P` to `P + more`, the rewrite `R` becomes
    `R + more` (else `/catalog/v2/x` would reach the service as `/x`, not `/v2/x`)."""
    if gateway is None or gateway.path is None or combined.path is None or combined.path == gateway.path:
        return rewrite
    (_, before), (_, after) = _kind(gateway.path), _kind(combined.path)
    return rewrite + after[len(before) :] if after.startswith(before) else rewrite


def combine_all(
    gateway: list[Match], service: list[Match], rewrite: str | None, port: int | None
) -> list[tuple[Match, str | None]] | Inexpressible:
    """The alternatives (OR) of both lists ANDed, each with the `rewrite.uri` it needs (None
    without one); empty when none can hold. An empty input list means "every request"."""
    out: list[tuple[Match, str | None]] = []
    every: list[Match | None] = [None]
    for g in gateway or every:
        for s in service or every:
            found = combine(g, s, rewrite, port)
            if isinstance(found, Inexpressible):
                return found
            if isinstance(found, Match):
                pair = (found, rewrite_for(g, found, rewrite) if rewrite else None)
                if pair not in out:
                    out.append(pair)
    return out


def inexpressible(
    gateway: list[Match], service: list[Match], rewrite: str | None, port: int | None
) -> Inexpressible | None:
    """What `combine_all` would return when it is Inexpressible (the same reason), else None; without
    building the combined matches (MC183 asks this of every gateway route)."""
    every: list[Match | None] = [None]
    for g in gateway or every:
        for s in service or every:
            found = combine(g, s, rewrite, port, build=False)
            if isinstance(found, Inexpressible):
                return found
    return None
