"""A claims condition on a service that does not validate JWTs itself.

Why: `claims` in a `security.allow` entry become `when: request.auth.claims[...]` conditions,
which Istio evaluates against the token the service's own sidecar validated. Without a
RequestAuthentication for the workload (`security.jwt`) no token is validated there (a gateway's
validation does not travel with the request), so the condition never holds and the entry admits
nobody.

Example:
    services:
      - name: reports
        security:
          allow:
            - source: { namespaces: [ops] }
              claims: { role: [auditor] }      # no security.jwt on reports

Fix: add `security.jwt` with the issuer of those tokens (`required: false` if requests without a
token must still pass through other sources), or drop the claims.
"""

from __future__ import annotations

from collections.abc import Iterator

from .access_common import allow_entries
from .base import Finding, RuleContext

CODE = "MC193"
NAME = "claims-without-service-jwt"
SEVERITY = "error"
SCOPE = "namespace"


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info, _, rule, path in allow_entries(ctx):
        security = info.model.security
        if rule.claims and (security is None or security.jwt is None):
            yield Finding(
                (*path, "claims"),
                f"claims condition on service '{info.key}', which validates no JWT itself "
                "(no `security.jwt`): no claim is ever present there, the entry admits nobody",
                "add `security.jwt` with the tokens' issuer, or drop the claims",
            )
