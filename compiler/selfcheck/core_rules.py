"""A few API-server checks for core kinds that their JSON Schemas cannot express.

Why: kubernetes-validate's schemas check types and field names only. The API server also
rejects, for example, a Deployment whose selector does not match its pod template, or a
Service port named ``HTTP``. A compiler can easily get these wrong. These are the
checks most relevant to what meshc emits, ported from k8s.io/kubernetes
``pkg/apis/{core,apps}/validation``:

- Deployment: ``spec.selector`` must select ``spec.template.metadata.labels``. Pod template
  labels and annotations follow the metadata syntax. Container port names are IANA service
  names, and container ports are in 1-65535.
- Service: ports are in 1-65535. Port names are DNS-1123 labels, and required when there is
  more than one port. A string ``targetPort`` is an IANA service name, a numeric one is in
  1-65535. ``appProtocol`` is a qualified name.

Keys that must be unique (container names, Service port names...) are checked by
``core_unique.py``.

They run only on resources whose schema check found nothing to report about these fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from meshc.spec.source import PathItem

from .metadata import check_annotations, check_labels, label_key_error
from .paths import format_path

_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_HAS_LETTER = re.compile(r"[a-z]")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


_GOOD_IANA_NAMES: set[str] = set()


def _iana_svc_name(name: str) -> str | None:
    if name in _GOOD_IANA_NAMES:
        return None
    err = _iana_svc_name_error(name)
    if err is None and len(_GOOD_IANA_NAMES) < 100_000:
        _GOOD_IANA_NAMES.add(name)
    return err


def _iana_svc_name_error(name: str) -> str | None:
    if len(name) > 15:
        return "must be no more than 15 characters"
    if not _IANA_SVC_NAME.fullmatch(name):
        return "must contain only lower case alphanumeric characters or '-', and start and end with one"
    if "--" in name:
        return "must not contain consecutive hyphens"
    if not _HAS_LETTER.search(name):
        return "must contain at least one letter (a-z)"
    return None


def _port_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _containers(spec: Any, base: tuple[PathItem, ...]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for list_name in ("initContainers", "containers"):
        containers = _dig(spec, list_name)
        if not isinstance(containers, list):
            continue
        for i, c in enumerate(containers):
            ports = _dig(c, "ports")
            if not isinstance(ports, list):
                continue
            for j, p in enumerate(ports):
                if not isinstance(p, dict):
                    continue
                where = (*base, list_name, i, "ports", j)
                if "containerPort" in p and not _port_number(p["containerPort"]):
                    out.append((format_path((*where, "containerPort")), "must be between 1 and 65535"))
                name = p.get("name")
                if isinstance(name, str) and (err := _iana_svc_name(name)):
                    out.append((format_path((*where, "name")), f"invalid port name {name!r}: {err}"))
    return out


def deployment_rules(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    template_meta = _dig(resource, "spec", "template", "metadata")
    labels = _dig(template_meta, "labels")
    out += check_labels(labels, ("spec", "template", "metadata", "labels"))
    out += check_annotations(
        _dig(template_meta, "annotations"), ("spec", "template", "metadata", "annotations")
    )
    selector = _dig(resource, "spec", "selector")
    match_labels = _dig(selector, "matchLabels")
    if not isinstance(selector, dict) or not (match_labels or _dig(selector, "matchExpressions")):
        out.append(("spec.selector", "a non-empty selector is required"))
    elif isinstance(match_labels, dict):
        template_labels = labels if isinstance(labels, dict) else {}
        missing = {k: v for k, v in match_labels.items() if template_labels.get(k) != v}
        if missing:
            out.append(
                (
                    "spec.template.metadata.labels",
                    f"selector does not match template labels (missing or different: {missing})",
                )
            )
    out += _containers(_dig(resource, "spec", "template", "spec"), ("spec", "template", "spec"))
    return out


def service_rules(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    ports = _dig(resource, "spec", "ports")
    if not isinstance(ports, list):
        return out
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        where: tuple[PathItem, ...] = ("spec", "ports", i)
        name = p.get("name")
        if name is None or name == "":
            if len(ports) > 1:
                out.append(
                    (format_path((*where, "name")), "port name is required when there are several ports")
                )
        elif isinstance(name, str) and (
            name not in _GOOD_IANA_NAMES and (len(name) > 63 or not _DNS1123_LABEL.fullmatch(name))
        ):
            out.append(
                (format_path((*where, "name")), f"invalid port name {name!r}: must be a DNS-1123 label")
            )
        if "port" in p and not _port_number(p["port"]):
            out.append((format_path((*where, "port")), "must be between 1 and 65535"))
        target = p.get("targetPort")
        if isinstance(target, str):
            if err := _iana_svc_name(target):
                out.append((format_path((*where, "targetPort")), f"invalid port name {target!r}: {err}"))
        elif target is not None and not _port_number(target):
            out.append((format_path((*where, "targetPort")), "must be between 1 and 65535"))
        proto = p.get("appProtocol")
        if isinstance(proto, str) and (err := label_key_error(proto)):
            out.append((format_path((*where, "appProtocol")), f"invalid appProtocol {proto!r}: {err}"))
    return out


RULES: dict[tuple[str, str], Callable[[Mapping[str, Any]], list[tuple[str, str]]]] = {
    ("apps/v1", "Deployment"): deployment_rules,
    ("v1", "Service"): service_rules,
}
