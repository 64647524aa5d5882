"""Authorization sources beyond the declared edges and a service's own JWT, in the review's terms:
one canonical line per `security.allow` entry, and what a JWT setting requires. Lines compare as
strings: an added line is access the base did not grant (a risk), a removed one access withdrawn."""

from __future__ import annotations

from meshc.spec.models import AllowRule, ServiceJwt


def source_text(rule: AllowRule) -> str:
    src = rule.source
    if src.mesh:
        who = "any mesh workload"
    elif src.namespaces:
        who = "workloads of namespace(s) " + ", ".join(f"`{n}`" for n in sorted(set(src.namespaces)))
    elif src.plaintext:
        who = "callers without a sidecar (plain text)"
    else:
        who = "nobody"
    if src.ip_blocks:
        who += " from " + ", ".join(sorted(set(src.ip_blocks)))
    elif src.plaintext:
        who += " from any address"
    return who


def allow_text(rule: AllowRule) -> str:
    """`any mesh workload: GET /v1/products*` style: who, then what (ports, methods, paths, claims)."""
    what = []
    if rule.ports:
        what.append("port " + ", ".join(str(p) for p in sorted(set(rule.ports))))
    what.append(" ".join(sorted(set(rule.methods))) if rule.methods else "any method")
    what.append(" ".join(sorted(set(rule.paths))) if rule.paths else "any path")
    for name, values in sorted(rule.claims.items()):
        what.append(f"claim {name} in {sorted(set(values))}")
    return f"{source_text(rule)}: {', '.join(what)}"


def jwt_text(jwt: ServiceJwt | None) -> str:
    if jwt is None:
        return "none"
    issuers = ", ".join(sorted({j.issuer for j in jwt.issuers}))
    text = f"{'required' if jwt.required else 'validated when present'} ({issuers})"
    if jwt.require_claims:
        claims = "; ".join(f"{n} in {sorted(set(v))}" for n, v in sorted(jwt.require_claims.items()))
        text += f", claims {claims}"
    return text


def jwt_relaxed(old: ServiceJwt | None, new: ServiceJwt | None) -> str | None:
    """Why `new` admits requests `old` refused (None: it does not)."""
    if old is None:
        return None
    if new is None:
        return "no longer validates or requires a JWT"
    if old.required and not new.required:
        return "no longer requires a JWT"
    added = {j.issuer for j in new.issuers} - {j.issuer for j in old.issuers}
    if added and (old.required or old.require_claims):
        return f"accepts tokens of {', '.join(sorted(added))} too"
    for name, values in old.require_claims.items():
        now = new.require_claims.get(name)
        if now is None or not set(now) <= set(values):
            return f"required claim {name}: {sorted(set(values))} → {sorted(set(now)) if now else 'none'}"
    return None
