"""Kubernetes CEL library functions that Istio's CRD validation rules use, for celpy.

Why this exists: the API server evaluates `x-kubernetes-validations` with cel-go plus the
Kubernetes CEL libraries. celpy implements standard CEL only, and some of its conversions are
looser than cel-go's. A self-check that is looser than the API server is worse than none, so the
functions below follow the Go code they stand for, not a rough Python equivalent:

- ``duration(string)``: Go's ``time.ParseDuration`` (units ns/us/µs/ms/s/m/h, a bare ``0``,
  int64-nanosecond range). celpy's own version also accepts ``1d`` and rounds to microseconds.
- ``int(string)``: Go's ``strconv.ParseInt(s, 10, 64)``. Python's ``int()`` also accepts
  ``" 80"``, ``"8_0"`` and non-ASCII digits, and celpy accepts ``0x`` prefixes.
- ``substring(start[, end])``: cel-go ``ext.Strings``, indexed by code points.
- ``url(string)``, ``isURL(string)`` and ``<URL>.getScheme()``: the Kubernetes URL library.
  They use Go's ``net/url.ParseRequestURI`` (then ``url.Parse`` for the value). That parser is
  ported below (scheme, authority, port and percent-escape checks). One part is simplified: it
  does not check that a bracketed IPv6 host literal is really an IPv6 address.

The set of functions comes from grepping ``crd-all.gen.yaml`` (Istio 1.30.3) for the functions
its rules call. A rule that calls anything else is reported by ``skipped_cel_rules()``. It is not
evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from celpy import celtypes
from celpy.evaluation import CELEvalError

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)

# ---------------------------------------------------------------------------------------------
# duration(): Go time.ParseDuration
# ---------------------------------------------------------------------------------------------

_NS = 1
_US = 1000 * _NS
_MS = 1000 * _US
_S = 1000 * _MS
_MIN = 60 * _S
_H = 60 * _MIN
_UNITS = {"ns": _NS, "us": _US, "µs": _US, "μs": _US, "ms": _MS, "s": _S, "m": _MIN, "h": _H}


class GoDurationError(ValueError):
    """The string is not something Go's time.ParseDuration accepts."""


def _leading_int(s: str) -> tuple[int, str]:
    i = 0
    x = 0
    while i < len(s) and "0" <= s[i] <= "9":
        if x > (1 << 63) // 10:
            raise GoDurationError("bad [0-9]*")  # overflow
        x = x * 10 + (ord(s[i]) - 48)
        if x > 1 << 63:
            raise GoDurationError("bad [0-9]*")  # overflow
        i += 1
    return x, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    i = 0
    x = 0
    scale = 1.0
    overflow = False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if x > _INT64_MAX // 10:
                overflow = True
            else:
                y = x * 10 + (ord(s[i]) - 48)
                if y > 1 << 63:
                    overflow = True
                else:
                    x = y
                    scale *= 10
        i += 1
    return x, scale, s[i:]


def parse_go_duration(orig: str) -> int:
    """Port of Go's ``time.ParseDuration``; returns nanoseconds or raises GoDurationError."""
    s = orig
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise GoDurationError(f"time: invalid duration {orig!r}")
    d = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise GoDurationError(f"time: invalid duration {orig!r}")
        before = len(s)
        v, s = _leading_int(s)
        pre = before != len(s)
        post = False
        f, scale = 0, 1.0
        if s and s[0] == ".":
            s = s[1:]
            before = len(s)
            f, scale, s = _leading_fraction(s)
            post = before != len(s)
        if not pre and not post:
            raise GoDurationError(f"time: invalid duration {orig!r}")
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise GoDurationError(f"time: missing unit in duration {orig!r}")
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise GoDurationError(f"time: unknown unit {unit_name!r} in duration {orig!r}")
        if v > (1 << 63) // unit:
            raise GoDurationError(f"time: invalid duration {orig!r}")
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise GoDurationError(f"time: invalid duration {orig!r}")
        d += v
        if d > 1 << 63:
            raise GoDurationError(f"time: invalid duration {orig!r}")
    if neg:
        return -d
    if d > _INT64_MAX:
        raise GoDurationError(f"time: invalid duration {orig!r}")
    return d


class GoDuration(celtypes.DurationType):
    """A celpy duration that keeps Go's nanosecond precision for comparisons.

    celpy's DurationType is a ``datetime.timedelta`` (microsecond resolution). Without the exact
    nanoseconds, ``duration("999999ns") >= duration("1ms")`` would be true.
    """

    nanos: int

    def __new__(cls, nanos: int) -> GoDuration:
        seconds, rem = divmod(nanos, 1_000_000_000)
        obj = cast(GoDuration, super().__new__(cls, seconds, rem))
        obj.nanos = nanos
        return obj

    def _cmp_key(self, other: Any) -> tuple[int, int] | None:
        if isinstance(other, GoDuration):
            return self.nanos, other.nanos
        return None

    def __lt__(self, other: Any) -> bool:
        k = self._cmp_key(other)
        return k[0] < k[1] if k else super().__lt__(other)

    def __le__(self, other: Any) -> bool:
        k = self._cmp_key(other)
        return k[0] <= k[1] if k else super().__le__(other)

    def __gt__(self, other: Any) -> bool:
        k = self._cmp_key(other)
        return k[0] > k[1] if k else super().__gt__(other)

    def __ge__(self, other: Any) -> bool:
        k = self._cmp_key(other)
        return k[0] >= k[1] if k else super().__ge__(other)

    def __eq__(self, other: object) -> bool:
        k = self._cmp_key(other)
        return k[0] == k[1] if k else super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.nanos)


def cel_duration(value: Any) -> Any:
    """CEL ``duration()`` with Go semantics for strings."""
    if isinstance(value, CELEvalError):
        return value
    if isinstance(value, GoDuration):
        return value
    if isinstance(value, str):
        try:
            return GoDuration(parse_go_duration(str(value)))
        except GoDurationError as ex:
            return CELEvalError(f"duration conversion error: {ex}", ValueError, (str(ex),))
    return CELEvalError(f"no such overload: duration({type(value).__name__})", TypeError, ())


# ---------------------------------------------------------------------------------------------
# int(): strict for strings (Go strconv.ParseInt base 10)
# ---------------------------------------------------------------------------------------------

_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")


def cel_int(value: Any) -> Any:
    """CEL ``int()``. Strings use Go's ``strconv.ParseInt(s, 10, 64)``. Other types use celpy."""
    if isinstance(value, CELEvalError):
        return value
    if isinstance(value, str):
        s = str(value)
        if not _DECIMAL_INT.fullmatch(s) or not s.isascii():
            return CELEvalError(f"cannot convert {s!r} to int", ValueError, (s,))
        n = int(s)
        if not _INT64_MIN <= n <= _INT64_MAX:
            return CELEvalError(f"int overflow converting {s!r}", ValueError, (s,))
        return celtypes.IntType(n)
    return celtypes.IntType(value)


# ---------------------------------------------------------------------------------------------
# substring(): cel-go ext.Strings
# ---------------------------------------------------------------------------------------------


def cel_substring(s: Any, start: Any, end: Any = None) -> Any:
    """``string.substring(start[, end])``, indexed by code points like cel-go."""
    if not isinstance(s, str) or not isinstance(start, int) or isinstance(start, bool):
        return CELEvalError("no such overload: substring", TypeError, ())
    n = len(s)
    stop = n if end is None else end
    if end is not None and (not isinstance(end, int) or isinstance(end, bool)):
        return CELEvalError("no such overload: substring", TypeError, ())
    if start < 0 or start > n:
        return CELEvalError(f"index out of range: {start}", IndexError, ())
    if stop < 0 or stop > n:
        return CELEvalError(f"index out of range: {stop}", IndexError, ())
    if start > stop:
        return CELEvalError(f"invalid substring range. start: {start}, end: {stop}", IndexError, ())
    return celtypes.StringType(str(s)[start:stop])


# ---------------------------------------------------------------------------------------------
# url(), isURL(), getScheme(): Kubernetes URL library on top of Go net/url
# ---------------------------------------------------------------------------------------------


class GoURLError(ValueError):
    """The string is rejected by Go's net/url parser."""


@dataclass(frozen=True)
class GoURL:
    """The parts of a Go ``*url.URL`` that the CEL URL library exposes."""

    scheme: str
    host: str
    path: str
    raw_query: str
    opaque: str


_HOST_OK_PUNCT = frozenset("!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = frozenset("-._:~!$&'()*+,;=%@")
_HEX = frozenset("0123456789abcdefABCDEF")


def _ascii_alnum(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")


def _go_get_scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if ("a" <= c <= "z") or ("A" <= c <= "Z"):
            continue
        if ("0" <= c <= "9") or c in "+-.":
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise GoURLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _go_unescape_check(s: str, mode: str) -> None:
    """The validation part of Go's ``url.unescape`` (the decoded value is not needed)."""
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%":
            if i + 2 >= len(s) or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise GoURLError(f"invalid URL escape {s[i : i + 3]!r}")
            if mode == "host" and int(s[i + 1], 16) < 8 and s[i : i + 3] != "%25":
                raise GoURLError(f"invalid URL escape {s[i : i + 3]!r}")
            if mode == "zone":
                v = int(s[i + 1 : i + 3], 16)
                ch = chr(v)
                if s[i : i + 3] != "%25" and ch != " " and not (_ascii_alnum(ch) or ch in _HOST_OK_PUNCT):
                    raise GoURLError(f"invalid URL escape {s[i : i + 3]!r}")
            i += 3
            continue
        if mode in ("host", "zone") and ord(c) < 0x80 and not (_ascii_alnum(c) or c in _HOST_OK_PUNCT):
            raise GoURLError(f"invalid character {c!r} in host name")
        i += 1


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    if port[0] != ":":
        return False
    return all("0" <= b <= "9" for b in port[1:])


def _go_parse_host(host: str) -> str:
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0:
            raise GoURLError("missing ']' in host")
        colon_port = host[i + 1 :]
        if not _valid_optional_port(colon_port):
            raise GoURLError(f"invalid port {colon_port!r} after host")
        zone = host[:i].find("%25")
        if zone >= 0:
            _go_unescape_check(host[:zone], "host")
            _go_unescape_check(host[zone:i], "zone")
            _go_unescape_check(host[i:], "host")
            return host
    else:
        i = host.rfind(":")
        if i != -1:
            colon_port = host[i:]
            if not _valid_optional_port(colon_port):
                raise GoURLError(f"invalid port {colon_port!r} after host")
    _go_unescape_check(host, "host")
    return host


def _go_parse_authority(authority: str) -> str:
    i = authority.rfind("@")
    host = _go_parse_host(authority if i < 0 else authority[i + 1 :])
    if i >= 0:
        userinfo = authority[:i]
        if not all(_ascii_alnum(r) or r in _USERINFO_OK for r in userinfo):
            raise GoURLError("net/url: invalid userinfo")
        _go_unescape_check(userinfo, "userpassword")
    return host


def go_url_parse(raw: str, via_request: bool) -> GoURL:
    """Port of Go's ``net/url.parse`` (the shared core of Parse and ParseRequestURI)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise GoURLError("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise GoURLError("empty url")
    if raw == "*":
        return GoURL("", "", "*", "", "")
    scheme, rest = _go_get_scheme(raw)
    scheme = scheme.lower()
    raw_query = ""
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest, _, raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme != "":
            return GoURL(scheme, "", "", raw_query, rest)
        if via_request:
            raise GoURLError("invalid URI for request")
        segment = rest.partition("/")[0]
        if ":" in segment:
            raise GoURLError("first path segment in URL cannot contain colon")
    host = ""
    if (scheme != "" or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        slash = authority.find("/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        host = _go_parse_authority(authority)
    _go_unescape_check(rest, "path")
    return GoURL(scheme, host, rest, raw_query, "")


def go_parse_request_uri(raw: str) -> GoURL:
    """Go ``url.ParseRequestURI``."""
    return go_url_parse(raw, via_request=True)


def go_parse(raw: str) -> GoURL:
    """Go ``url.Parse``: strips the fragment, then parses."""
    u, _, _frag = raw.partition("#")
    parsed = go_url_parse(u, via_request=False)
    # Go also validates the fragment's escapes (unescape with encodeFragment).
    _go_unescape_check(_frag, "fragment")
    return parsed


def cel_is_url(value: Any) -> Any:
    """Kubernetes ``isURL(string)``: ``url.ParseRequestURI(s)`` succeeds."""
    if not isinstance(value, str):
        return CELEvalError("no such overload: isURL", TypeError, ())
    try:
        go_parse_request_uri(str(value))
    except GoURLError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def cel_url(value: Any) -> Any:
    """Kubernetes ``url(string)``: ParseRequestURI to validate, then Parse for the value."""
    if isinstance(value, GoURL):
        return value
    if not isinstance(value, str):
        return CELEvalError("no such overload: url", TypeError, ())
    try:
        go_parse_request_uri(str(value))
        return go_parse(str(value))
    except GoURLError as ex:
        return CELEvalError(f"URL parse error during conversion from string: {ex}", ValueError, ())


def cel_get_scheme(value: Any) -> Any:
    """``<URL>.getScheme()``."""
    if not isinstance(value, GoURL):
        return CELEvalError("no such overload: getScheme", TypeError, ())
    return celtypes.StringType(value.scheme)


# Functions handed to celpy's ``Environment.program(functions=...)``. They override celpy's
# ``duration`` and ``int`` and add the Kubernetes ones.
K8S_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "duration": cel_duration,
    "int": cel_int,
    "substring": cel_substring,
    "url": cel_url,
    "isURL": cel_is_url,
    "getScheme": cel_get_scheme,
}
