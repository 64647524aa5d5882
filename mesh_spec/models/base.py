"""Shared building blocks of the spec models.

Every model is frozen (the spec is parsed once at the edge and then only read), forbids unknown
fields (a typo must be an error, not a silently ignored setting) and uses camelCase aliases so the
YAML reads like the Istio resources it compiles to.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        # Field docstrings become schema descriptions when the JSON Schema is generated
        # (`meshc.spec.schema`), not here: reading them costs an AST parse per class, a tenth of
        # every `meshc validate`'s start-up, for text only the schema shows.
        hide_input_in_errors=True,
        # Strict: YAML `port: "80"` or `timeout: 10` is a mistake to report, not to coerce.
        strict=True,
        # Each model's validator is built when it is first used, not when its class is defined:
        # validating a spec uses only the Mesh's (which holds every other model's schema), so
        # the per-class validators that start-up used to build for nothing are not built at all.
        defer_build=True,
    )


DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        description="A duration such as `500ms`, `2s`, `1m30s` or `1h`.",
        examples=["2s", "500ms"],
    ),
]


@lru_cache(maxsize=4096)  # rules and lowering read the same few durations for every service
def duration_seconds(value: str) -> float:
    """Seconds in a validated duration string (`1m30s` -> 90.0)."""
    return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _DURATION_PART.findall(value))


Percent = Annotated[float, Field(ge=0, le=100, description="A percentage from 0 to 100.")]

PromLabelName = Annotated[
    str,
    Field(
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="A Prometheus label name: letters, digits and '_', not starting with a digit.",
    ),
]

RESERVED_ALERT_LABELS = frozenset(
    {
        "alertname",
        "slo",
        "alerting",
        "reporter",
        "le_ms",
        "destination_service_name",
        "destination_service_namespace",
    }
)
"""Labels meshc sets on its SLO rows and alerts itself: a user label of that name would replace it."""


def _no_reserved_labels(labels: dict[str, str]) -> dict[str, str]:
    taken = sorted(k for k in labels if k in RESERVED_ALERT_LABELS or k.startswith("__"))
    if taken:
        raise ValueError(f"label {taken[0]!r} is meshc's own (or Prometheus'): choose another name")
    return labels


AlertLabelMap = Annotated[dict[PromLabelName, str], AfterValidator(_no_reserved_labels)]
"""Labels on alerts: Prometheus label names, none of those meshc sets itself."""

ImageHub = Annotated[
    str,
    Field(
        pattern=r"^[a-zA-Z0-9]+([._-][a-zA-Z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
        description="A container registry and path: `docker.io/istio`, `registry.example.com:5000/istio`.",
    ),
]
ImageTag = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="A container image tag, e.g. `1.30.3`."
    ),
]
RevisionName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="An Istio revision or revision tag (a DNS-1123 label: it names `istiod-<revision>`).",
    ),
]


def _ip_range(value: str) -> str:
    if value != "*":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP range in CIDR form (10.0.0.0/8) or `*`") from None
    return value


IpRange = Annotated[
    str, AfterValidator(_ip_range), Field(description="A CIDR range such as `10.0.0.0/8`, or `*`.")
]


ClaimName = Annotated[
    str,
    Field(
        pattern=r"^[^.\[\]\s]+(\.[^.\[\]\s]+)*$",
        description="A JWT claim; `a.b` is the claim b nested in a. No brackets, blanks or empty parts:"
        " they would break Istio's `request.auth.claims[...]` key.",
        examples=["role", "realm_access.roles"],
    ),
]
ClaimValues = Annotated[
    list[Annotated[str, Field(min_length=1)]],
    Field(min_length=1, description="Accepted values (exact, `prefix*` or `*suffix`); at least one."),
]

HeaderName = Annotated[
    str,
    Field(
        pattern=r"^[-_A-Za-z0-9]+$",
        description="An HTTP header name: letters, digits, '-' and '_'.",
        examples=["x-jwt-sub"],
    ),
]

# Names used as Kubernetes object names and label values. The format is checked by rule MC103
# rather than by the schema so that a bad name gets a diagnostic with a hint, not a regex dump.
Name = Annotated[str, Field(min_length=1, description="A DNS-1123 label: lower case letters, digits, '-'.")]

Protocol = Literal["http", "http2", "grpc", "grpc-web", "https", "tcp", "tls", "mongo", "mysql", "redis"]
"""Application protocols, as Istio names them (lower case)."""

HTTP_PROTOCOLS: frozenset[str] = frozenset({"http", "http2", "grpc", "grpc-web"})
"""Protocols whose traffic the sidecar parses as HTTP (routing, retries, faults apply)."""

MtlsMode = Literal["STRICT", "PERMISSIVE", "DISABLE"]


class StringMatch(SpecModel):
    """Exactly one of `exact`, `prefix` or `regex` (RE2 syntax), as in Istio's StringMatch."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None
