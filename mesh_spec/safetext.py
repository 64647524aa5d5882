"""Text from the spec made safe to print: control characters escaped, credentials masked.

Diagnostics and review output end up in terminals, CI logs and pull-request comments. A name
holding ESC or BEL could drive the terminal, one holding CR or LF could forge a whole
`file:1:1: error` line, and a value that is a credential must not be copied into a log. Everything
meshc prints that came from the user goes through `escape_controls` (text output) and `redact`
(every output).
"""

from __future__ import annotations

import re

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls (incl. ESC, BEL, CR, LF, NEL), DEL, the Unicode line/paragraph separators and
the bidirectional overrides that can make a line read differently from what it holds."""


def escape_controls(text: str) -> str:
    """`text` with every control character written as a visible escape (`\\x1b`, `\\u2028`)."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


MASK = "***"

_CREDENTIALS = re.compile(
    r"AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|sk_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe keys
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWTs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(?:-----END [A-Z ]*PRIVATE KEY-----)?"  # PEM keys
)
_ASSIGNED = re.compile(
    r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"
    r"\s*=\s*[\"']?)([^\s\"',;&]{3,})"
)
"""`password=...`, `--api-key=...` (`=` only: `token: expected a string` is meshc's own text)."""
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)([^/\s@]+)(@)")
_OPAQUE = re.compile(r"(?<![A-Za-z0-9+/_=.-])[A-Za-z0-9+_=-]{32,}(?![A-Za-z0-9+/_=.-])")
"""A long run of token characters (not part of a path or host name): masked when it mixes upper,
lower and digits as generated secrets do (hex digests, names and paths do not)."""


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `***`."""
    text = _CREDENTIALS.sub(MASK, text)
    text = _ASSIGNED.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _OPAQUE.sub(lambda m: MASK if looks_generated(m.group()) else m.group(), text)


def looks_generated(token: str) -> bool:
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    digits = sum(c.isdigit() for c in token)
    return upper >= 2 and lower >= 2 and digits >= 2


def safe(text: str) -> str:
    """Both: for text printed to a terminal or log."""
    return escape_controls(redact(text))


_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"}
)
_SENSITIVE_WORDS = ("token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "session")


def sensitive_header(name: str) -> bool:
    """Whether a header of this name carries credentials (`Authorization`, `Cookie`, `X-Api-Key`,
    `X-Session-Token`, ...): its value is masked wherever meshc prints it."""
    lower = name.lower()
    return lower in _SENSITIVE_HEADERS or any(word in lower for word in _SENSITIVE_WORDS)
