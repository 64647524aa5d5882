"""Logical names are stable: changing one service changes only that service's registrations, and
reordering the spec changes nothing (so `pulumi up` never replaces unrelated resources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from stackhelp import REPO, plan_config, stack_file_config

from meshc.compiler.pipeline import run

SPEC = REPO / "examples/multicluster/mesh.yaml"


def registrations(tmp: Path, spec_data: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    folder = tmp / name
    folder.mkdir()
    spec = folder / "mesh.yaml"
    spec.write_text(yaml.safe_dump(spec_data, sort_keys=False))
    config = {**stack_file_config("prod"), "meshc:spec": str(spec)}
    result = plan_config(folder, config)
    assert result.exit_code == 0, result.stderr
    return {
        r["urn"]: {
            k: r.get(k) for k in ("type", "parent", "provider", "dependsOn", "inputs", "retainOnDelete")
        }
        for r in result.resources
    }


def owners(spec: Path) -> dict[str, str | None]:
    return {
        f"{m.cluster}/{m.namespace if m.namespace is not None else m.name}/{m.kind}/{m.name}": m.owner
        for m in run(spec).manifests
    }


def test_one_service_change_changes_only_that_services_registrations(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    before = registrations(tmp_path, data, "before")
    reviews = next(s for s in data["spec"]["services"] if s["name"] == "reviews")
    reviews["versions"][1]["image"] = "registry.example.com/travel/reviews:1.6.0"
    reviews["traffic"]["split"] = {"v1": 50, "v2": 50}
    reviews["traffic"]["timeout"] = "4s"
    after = registrations(tmp_path, data, "after")

    assert set(before) == set(after)  # nothing created, nothing deleted: no replacement either
    changed = {urn for urn in before if before[urn] != after[urn]}
    owner = owners(tmp_path / "after" / "mesh.yaml")
    changed_names = {urn.rsplit("::", 1)[-1] for urn in changed}
    assert changed_names  # the change is visible
    assert {owner.get(name) for name in changed_names} == {"service/reviews"}, changed_names
    # Both clusters' reviews resources changed (it runs in both regions).
    assert {n.split("/")[0] for n in changed_names} == {"east", "west"}


def test_adding_a_service_only_adds_its_own_resources(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    before = registrations(tmp_path, data, "before")
    data["spec"]["services"].append(
        {
            "name": "audit",
            "placement": ["west"],
            "ports": [{"port": 8080, "protocol": "http"}],
            "versions": [{"name": "v1", "image": "registry.example.com/travel/audit:1.0.0"}],
        }
    )
    after = registrations(tmp_path, data, "after")
    assert set(before) <= set(after)
    assert all(before[urn] == after[urn] for urn in before)
    added = {urn.rsplit("::", 1)[-1] for urn in set(after) - set(before)}
    owner = owners(tmp_path / "after" / "mesh.yaml")
    assert added and {owner[name] for name in added} == {"service/audit"}


def test_reordering_the_spec_changes_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    before = registrations(tmp_path, data, "before")
    data["spec"]["services"].reverse()
    data["spec"]["clusters"].reverse()
    after = registrations(tmp_path, data, "after")
    assert before == after
