"""A route rule can never match because an earlier rule in the same list catches all it would.

Why: routes are evaluated in order and the first match wins. A rule after a catch-all (a rule
without `match`), after an identical match, or after a path prefix that covers its path is dead
configuration: the requests it was written for go elsewhere, usually unnoticed until an incident.
This mirrors istioctl's IST0130 (VirtualServiceUnreachableRule).

Example:
    routes:
      - match: [{ path: { prefix: /api } }]
        to: v1
      - match: [{ path: { prefix: /api/v2 } }]   # never reached: /api catches it
        to: v2

Fix: put the more specific rule first, narrow the earlier rule, or delete the dead one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshc.spec.models import Match, StringMatch, Traffic

from .base import Finding, RuleContext
from .walk import Path, defaults_traffic, match_kind, route_label, service_traffic

CODE = "MC107"
NAME = "shadowed-route"
SEVERITY = "warning"
SCOPE = "namespace"

_ANY = Match.model_construct()  # not validated: a validated one would build Match's validator at import


def _sm(sm: StringMatch | None) -> tuple[str | None, ...] | None:
    return None if sm is None else (sm.exact, sm.prefix, sm.regex)


def _rest(m: Match) -> tuple[Any, ...]:
    """Everything a match requires besides the path, in a hashable canonical form."""
    return (
        _sm(m.method),
        tuple(sorted((k, _sm(v)) for k, v in m.headers.items())),
        tuple(sorted((k, _sm(v)) for k, v in m.query.items())),
        tuple(sorted((k, _sm(v)) for k, v in m.claims.items())),
        m.port,
    )


_NO_REST = _rest(_ANY)


@dataclass
class _Bucket:
    """Earlier alternatives sharing one set of non-path conditions, indexed by their path."""

    any_path: str | None = None
    paths: dict[Any, str] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)

    def add(self, m: Match, owner: str) -> None:
        if m.path is None:
            self.any_path = self.any_path or owner
            return
        self.paths.setdefault(_sm(m.path), owner)
        kind = match_kind(m.path)
        if kind is not None and kind[0] == "prefix":
            self.prefixes.setdefault(kind[1], owner)

    def covers(self, m: Match) -> str | None:
        if self.any_path is not None:
            return self.any_path
        if m.path is None:
            return None
        found = self.paths.get(_sm(m.path))
        kind = match_kind(m.path)
        if found is None and kind is not None and kind[0] in ("exact", "prefix"):
            value = kind[1]
            found = next(
                (self.prefixes[value[:n]] for n in range(len(value) + 1) if value[:n] in self.prefixes), None
            )
        return found


class _Seen:
    """The alternatives of the earlier rules of one list, by host scope (None: every host)."""

    def __init__(self) -> None:
        self.scopes: dict[str | None, dict[tuple[Any, ...], _Bucket]] = {}

    def add(self, matches: Sequence[Match], hosts: Sequence[str | None], owner: str) -> None:
        for host in hosts:
            scope = self.scopes.setdefault(host, {})
            for m in matches or [_ANY]:
                scope.setdefault(_rest(m), _Bucket()).add(m, owner)

    def cover(self, matches: Sequence[Match], hosts: Sequence[str | None]) -> str | None:
        """The earlier rule covering every (alternative, host) of a rule; None if some escape."""
        first: str | None = None
        for host in hosts:
            for m in matches or [_ANY]:
                found = self._cover_one(m, {None, host})
                if found is None:
                    return None
                first = first or found
        return first

    def _cover_one(self, m: Match, hosts: Iterable[str | None]) -> str | None:
        for host in hosts:
            scope = self.scopes.get(host)
            if scope is None:
                continue
            for rest in (_rest(m), _NO_REST):
                bucket = scope.get(rest)
                found = bucket.covers(m) if bucket is not None else None
                if found is not None:
                    return found
        return None


def _scan(
    routes: Sequence[tuple[Path, str, Sequence[Match], Sequence[str | None]]], where: str
) -> Iterator[Finding]:
    seen = _Seen()
    for path, label, matches, hosts in routes:
        earlier = seen.cover(matches, hosts)
        if earlier is not None:
            yield Finding(
                path,
                f"{label} of {where} can never match: {earlier} catches every request it would",
                f"move it before {earlier}, narrow the match of {earlier}, or remove it",
            )
        seen.add(matches, hosts, label)


def _blocks(blocks: Iterator[tuple[Path, Traffic, str]]) -> Iterator[Finding]:
    for base, traffic, owner in blocks:
        yield from _scan(
            [
                ((*base, "routes", i), route_label(r.name, i), r.match, [None])
                for i, r in enumerate(traffic.routes)
            ],
            owner,
        )


def check(ctx: RuleContext) -> Iterator[Finding]:
    """The traffic blocks of the services."""
    yield from _blocks(service_traffic(ctx))


def check_mesh(ctx: RuleContext) -> Iterator[Finding]:
    """`spec.defaults.traffic` and the gateways."""
    yield from _blocks(defaults_traffic(ctx))
    for gi, gw in enumerate(ctx.mesh.spec.gateways):
        yield from _scan(
            [
                (
                    ("spec", "gateways", gi, "routes", i),
                    route_label(r.name, i),
                    r.match,
                    [h.lower() for h in r.hosts] or [None],
                )
                for i, r in enumerate(gw.routes)
            ],
            f"gateway '{gw.name}'",
        )
