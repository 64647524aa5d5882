"""Kubernetes resource quantities in their canonical form (`3000m` is written `3`, `1024Mi` `1Gi`).

The injector parses the resource annotations and settings into quantities and writes them back
the way the API server does, so `proxyCPULimit: 1000m` appears as `cpu: "1"`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SHAPE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def is_quantity(text: str) -> bool:
    return _SHAPE.match(text.strip()) is not None


@lru_cache(maxsize=4096)  # a mesh spells its quantities a few ways, thousands of times
def canonical(text: str) -> str:
    """The API server's canonical spelling of a quantity."""
    match = _SHAPE.match(text.strip())
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 100m, 2, 128Mi, 1Gi)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from exc
    if suffix in _BINARY_SUFFIXES:
        total = value * (Decimal(2) ** _BINARY_SUFFIXES[suffix])
        if total == total.to_integral_value():
            return _binary(int(total))
        return _decimal(total)
    if suffix[:1] in ("e", "E"):
        return _decimal(value * (Decimal(10) ** int(suffix[1:])))
    return _decimal(value * (Decimal(10) ** _DECIMAL_SUFFIXES[suffix]))


def _binary(total: int) -> str:
    if total == 0:
        return "0"
    for suffix, power in sorted(_BINARY_SUFFIXES.items(), key=lambda kv: -kv[1]):
        unit = 1 << power
        if total % unit == 0:
            return f"{total // unit}{suffix}"
    return str(total)


def _decimal(total: Decimal) -> str:
    if total == 0:
        return "0"
    # The largest exponent (a multiple of 3, down to nano) that leaves an integer mantissa;
    # anything finer than a nano-unit rounds up, as Kubernetes does.
    for suffix, power in sorted(_DECIMAL_SUFFIXES.items(), key=lambda kv: -kv[1]):
        mantissa = total / (Decimal(10) ** power)
        if mantissa == mantissa.to_integral_value():
            return f"{int(mantissa)}{suffix}"
    nanos = (total * Decimal(10) ** 9).to_integral_value(rounding="ROUND_CEILING")
    return _decimal(nanos / Decimal(10) ** 9)


@lru_cache(maxsize=4096)  # Decimal is immutable: the cached value is safe to share
def amount(text: str) -> Decimal:
    """The quantity as a number of base units (`128Mi` -> 134217728, `100m` -> 0.1), to compare."""
    match = _SHAPE.match(text.strip())
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 100m, 2, 128Mi, 1Gi)")
    value, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY_SUFFIXES:
        return value * (Decimal(2) ** _BINARY_SUFFIXES[suffix])
    if suffix[:1] in ("e", "E"):
        return value * (Decimal(10) ** int(suffix[1:]))
    return value * (Decimal(10) ** _DECIMAL_SUFFIXES[suffix])
