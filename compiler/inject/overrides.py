"""A workload's own `istio-proxy` / `istio-init` containers customise the injected ones.

Fields the user sets win; maps (resources, securityContext, lifecycle) merge key by key; volume
mounts, env and ports merge by their keys; other lists are replaced. `image: auto` means "the
injected image". What the user wrote is kept in `proxy.istio.io/overrides` so that re-injection
(and a reader) can tell the template's values from the user's.
"""

from __future__ import annotations

import copy
from typing import Any

from . import gojson
from .quantity import canonical

OVERRIDES_ANNOTATION = "proxy.istio.io/overrides"
_MERGE_KEYS = {"volumeMounts": "mountPath", "env": "name", "ports": "containerPort"}


def normalise(user: dict[str, Any]) -> dict[str, Any]:
    """The user's container as the API server would hold it: canonical quantities, no `image: auto`."""
    out = copy.deepcopy(user)
    if out.get("image") == "auto":
        del out["image"]
    res = out.get("resources")
    if isinstance(res, dict):
        out["resources"] = {
            part: {k: canonical(str(v)) for k, v in values.items()} if isinstance(values, dict) else values
            for part, values in res.items()
        }
    return out


def merge(template: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    for key, value in user.items():
        if key in _MERGE_KEYS and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value, _MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_map(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_map(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_map(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_list(base: list[Any], over: list[Any], key: str) -> list[Any]:
    out = [copy.deepcopy(item) for item in base]
    positions = {item.get(key): i for i, item in enumerate(out) if isinstance(item, dict)}
    for item in over:
        at = positions.get(item.get(key)) if isinstance(item, dict) else None
        if at is None:
            out.append(copy.deepcopy(item))
        else:
            out[at] = _merge_map(out[at], item)
    return out


def annotation(containers: list[dict[str, Any]], init_containers: list[dict[str, Any]]) -> str:
    """`proxy.istio.io/overrides`: the user's containers in Go's field order."""
    body: dict[str, Any] = {}
    if containers:
        body["containers"] = [gojson.container(c) for c in containers]
    if init_containers:
        body["initContainers"] = [gojson.container(c) for c in init_containers]
    return gojson.dumps(body)
