"""The stack config, typed: what `Pulumi.<stack>.yaml` says under the project's namespace.

    config:
      meshc:spec: examples/multicluster/mesh.yaml      # spec file or directory
      meshc:clusters:                                  # one entry per cluster this stack deploys to
        east: {kubeconfig: ~/.kube/east.yaml, context: east-admin}
        west: {kubeconfig: ~/.kube/west.yaml, context: west-admin}
      meshc:shard:                                     # optional: deploy part of the mesh
        namespaces: [shop]
        teams: [payments]
        meshWide: false
      meshc:strict: false                              # optional: spec warnings fail the deployment
      meshc:overlays: [env/prod.yaml]                  # optional: YAML overlays merged onto the spec

Pulumi hands config to the program as strings (objects JSON-encoded); `parse_config` turns them into
a `StackConfig` or raises `ConfigProblems` with one line per problem, before anything is registered.
Plain Python: no Pulumi import, so `meshc plan` and the tests share it.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

KEYS = ("spec", "overlays", "clusters", "shard", "strict")
"""Config keys the program reads, under the project's namespace (`meshc:spec`, ...)."""

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

ClusterName = Annotated[str, StringConstraints(pattern=DNS_LABEL)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class ConfigProblems(Exception):
    """The stack config is wrong; `problems` holds one line per problem (`meshc:key: message`)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ClusterConfig(_Model):
    """How to reach one cluster: an explicit `kubernetes.Provider` is built from this."""

    context: NonEmpty
    """The kubeconfig context to use. Required: a stack never deploys to whatever context is current."""
    kubeconfig: NonEmpty | None = None
    """Path of the kubeconfig file (relative to the project directory, `~` allowed); when omitted the
    provider reads `$KUBECONFIG` or `~/.kube/config`."""


class ShardConfig(_Model):
    """Deploy part of the mesh: the namespaces listed, those of the teams listed, and (if `meshWide`)
    the mesh-wide resources. The whole mesh is still compiled, so cross-shard references hold."""

    namespaces: list[ClusterName] = Field(default_factory=list)
    teams: list[NonEmpty] = Field(default_factory=list)
    mesh_wide: bool = False
    """Own the mesh-wide resources: the control-plane and root namespaces' resources (root
    PeerAuthentication and Telemetry, the east-west gateway, the network label, egress there)."""


class StackConfig(_Model):
    spec: NonEmpty
    """The spec file or directory (relative to the project directory)."""
    overlays: list[NonEmpty] = Field(default_factory=list)
    """YAML overlays merged onto the spec in order, as `meshc ... --overlay` does (docs/overlays.md):
    one stack per environment, each with its environment's overlay."""
    clusters: dict[ClusterName, ClusterConfig] = Field(min_length=1)
    shard: ShardConfig | None = None
    strict: bool = False
    """Treat spec warnings as errors."""

    @property
    def owns_mesh_wide(self) -> bool:
        """An unsharded stack owns the mesh-wide resources; a shard only when it says so."""
        return self.shard is None or self.shard.mesh_wide


def parse_config(project: str, raw: Mapping[str, Any]) -> StackConfig:
    """The typed config from Pulumi's config map (`{"meshc:spec": "...", ...}`); other namespaces
    (`pulumi:`, `kubernetes:`) are not ours and are ignored here."""
    prefix = f"{project}:"
    problems: list[str] = []
    values: dict[str, Any] = {}
    for full_key in sorted(raw):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            known = ", ".join(prefix + k for k in KEYS)
            problems.append(f"{full_key}: unknown config key (meshc reads {known}){hint}")
            continue
        value = raw[full_key]
        if key in ("clusters", "shard"):
            value = _decode_object(full_key, value, problems)
            if value is None:
                continue
        elif key == "overlays":
            value = _decode_list(full_key, value, problems)
            if value is None:
                continue
        values[key] = value
    if "spec" not in values and not any(p.startswith(f"{prefix}spec:") for p in problems):
        problems.append(
            f"{prefix}spec: required: the spec file or directory to deploy "
            f"(`pulumi config set {prefix}spec PATH`)"
        )
    if "clusters" not in values and not any(p.startswith(f"{prefix}clusters:") for p in problems):
        problems.append(
            f"{prefix}clusters: required: one entry per cluster with its context "
            f"(`pulumi config set --path {prefix}clusters.NAME.context CONTEXT`)"
        )
    if problems:
        raise ConfigProblems(problems)
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigProblems([_format_error(prefix, e) for e in exc.errors()]) from None


def _decode_object(full_key: str, value: Any, problems: list[str]) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            problems.append(
                f"{full_key}: expected an object (a mapping in Pulumi.<stack>.yaml), got the string {value!r}"
            )
            return None
    if not isinstance(value, dict):
        problems.append(
            f"{full_key}: expected an object (a mapping in Pulumi.<stack>.yaml), got {type(value).__name__}"
        )
        return None
    return value


def _decode_list(full_key: str, value: Any, problems: list[str]) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.lstrip().startswith("[") else [value]
        except ValueError:
            problems.append(f"{full_key}: expected a list of overlay files, got the string {value!r}")
            return None
    if not isinstance(value, list):
        problems.append(f"{full_key}: expected a list of overlay files, got {type(value).__name__}")
        return None
    return value


def _format_error(prefix: str, error: Any) -> str:
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    where = prefix + ".".join(loc) if loc else prefix.rstrip(":")
    kind = error["type"]
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid name (lowercase letters, digits and '-', at most 63)"
    elif kind == "too_short" and loc == ["clusters"]:
        message = "at least one cluster is required"
    else:
        message = str(error["msg"])[0].lower() + str(error["msg"])[1:]
    return f"{where}: {message}"


def resolve_path(project_dir: Path, value: str) -> Path:
    """A config path as Pulumi users expect: `~` expanded, relative to the directory of Pulumi.yaml
    (Pulumi runs the program from the `main` directory, so the working directory is no anchor)."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else Path(os.path.normpath(project_dir / path))


def cluster_problems(
    project: str, config: StackConfig, spec_clusters: list[str], used_clusters: set[str | None]
) -> list[str]:
    """`meshc:clusters` against the spec: every configured cluster is declared by the spec, every
    cluster that receives resources from this stack is configured, no two share a context."""
    key = f"{project}:clusters"
    problems: list[str] = []
    configured = list(config.clusters)
    if not spec_clusters:
        if len(configured) != 1:
            problems.append(
                f"{key}: the spec declares no clusters, so the stack deploys to exactly one; "
                f"found {len(configured)} ({', '.join(configured)})"
            )
    else:
        declared = ", ".join(spec_clusters)
        for name in configured:
            if name not in spec_clusters:
                problems.append(f"{key}.{name}: the spec declares no cluster {name!r} (declared: {declared})")
        for name in spec_clusters:
            if name in used_clusters and name not in config.clusters:
                problems.append(
                    f"{key}: no entry for cluster {name!r}, which receives resources from this stack "
                    f"(add `{key}.{name}.context`, or shard the stack so nothing lands there)"
                )
    seen: dict[tuple[str | None, str], str] = {}
    for name, cluster in config.clusters.items():
        target = (cluster.kubeconfig, cluster.context)
        if target in seen:
            problems.append(
                f"{key}.{name}: same kubeconfig and context as {seen[target]!r}: two clusters of the mesh "
                "cannot be the same cluster"
            )
        seen.setdefault(target, name)
    return problems
