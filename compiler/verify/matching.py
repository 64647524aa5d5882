"""String matching as each Istio API defines it (the semantics differ between APIs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any


def authz_value(pattern: str, value: str | None, *, fold: bool = False) -> bool:
    """AuthorizationPolicy string fields: exact, `prefix*`, `*suffix`, or `*` (any non-empty value).

    istio.io/latest/docs/reference/config/security/authorization-policy/ ("Value matching")."""
    if value is None:
        return False
    if fold:
        pattern, value = pattern.lower(), value.lower()
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def string_match(match: Mapping[str, Any], value: str | None) -> bool:
    """VirtualService StringMatch: exact, prefix or RE2 regex (full match)."""
    if value is None:
        return False
    if "exact" in match:
        return value == match["exact"]
    if "prefix" in match:
        return value.startswith(str(match["prefix"]))
    if "regex" in match:
        return _regex(str(match["regex"])).fullmatch(value) is not None
    return True


def dns_match(pattern: str, host: str) -> bool:
    """Hosts in Sidecar egress, Gateway servers and VirtualService hosts: `*`, `*.suffix`, exact."""
    host = host.lower()
    pattern = pattern.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return host == pattern


def host_part(authority: str) -> str:
    """The host of a Host/:authority header (`shop.example.com:443` -> `shop.example.com`)."""
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
