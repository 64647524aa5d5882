"""Bad stack config fails cleanly: one line per problem naming the config key, no traceback, nothing
registered. The parsing rules are checked directly; representative cases run the whole program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackhelp import REPO, plan_config, stack_file_config

from meshc.pulumi.stack_config import (
    ConfigProblems,
    StackConfig,
    cluster_problems,
    parse_config,
    resolve_path,
)

PROD = stack_file_config("prod")


def raw(**values: Any) -> dict[str, str]:
    """Config as Pulumi hands it to a program: `meshc:` keys, objects JSON-encoded."""
    return {f"meshc:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def problems(config: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigProblems) as exc:
        parse_config("meshc", config)
    return exc.value.problems


GOOD = {"spec": "examples/bookinfo/mesh.yaml", "clusters": {"default": {"context": "kind-dev"}}}


def test_good_config_parses() -> None:
    config = parse_config("meshc", {**raw(**GOOD), "pulumi:disable-default-providers": '["kubernetes"]'})
    assert config == StackConfig(
        spec="examples/bookinfo/mesh.yaml", clusters={"default": {"context": "kind-dev"}}
    )
    assert config.owns_mesh_wide and config.shard is None and config.strict is False


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {**GOOD, "spc": "x"},
            "meshc:spc: unknown config key (meshc reads meshc:spec, meshc:overlays, meshc:clusters, "
            "meshc:shard, meshc:strict); did you mean meshc:spec?",
        ),
        ({"clusters": GOOD["clusters"]}, "meshc:spec: required"),
        ({"spec": "a.yaml"}, "meshc:clusters: required"),
        (
            {**GOOD, "clusters": "east"},
            "meshc:clusters: expected an object (a mapping in Pulumi.<stack>.yaml), got the string 'east'",
        ),
        (
            {**GOOD, "clusters": ["east"]},
            "meshc:clusters: expected an object (a mapping in Pulumi.<stack>.yaml), got list",
        ),
        ({**GOOD, "clusters": {}}, "meshc:clusters: at least one cluster is required"),
        ({**GOOD, "clusters": {"east": {"kubeconfig": "k"}}}, "meshc:clusters.east.context: required"),
        (
            {**GOOD, "clusters": {"east": {"context": "c", "namespace": "x"}}},
            "meshc:clusters.east.namespace: unknown key",
        ),
        (
            {**GOOD, "clusters": {"East_1": {"context": "c"}}},
            "meshc:clusters.East_1: 'East_1' is not a valid name",
        ),
        ({**GOOD, "shard": {"namespaces": ["a"], "meshwide": True}}, "meshc:shard.meshwide: unknown key"),
        ({**GOOD, "strict": "maybe"}, "meshc:strict: input should be a valid boolean"),
    ],
)
def test_config_problems_are_one_line_each_and_name_the_key(config: dict[str, Any], expected: str) -> None:
    found = problems(raw(**config))
    assert any(p.startswith(expected) for p in found), found
    assert all("\n" not in p for p in found)


def test_other_namespaces_are_not_ours() -> None:
    config = parse_config("meshc", {**raw(**GOOD), "kubernetes:context": "x", "aws:region": "eu-west-1"})
    assert config.clusters["default"].context == "kind-dev"


def test_paths_resolve_against_the_project_directory() -> None:
    assert resolve_path(REPO, "examples/x.yaml") == REPO / "examples/x.yaml"
    assert resolve_path(REPO, "/abs/x.yaml") == Path("/abs/x.yaml")
    assert resolve_path(REPO, "~/k.yaml") == Path.home() / "k.yaml"


def test_cluster_problems_against_the_spec() -> None:
    two = parse_config("meshc", raw(spec="s", clusters={"east": {"context": "a"}, "west": {"context": "a"}}))
    found = cluster_problems("meshc", two, [], {None})
    assert any(
        "declares no clusters, so the stack deploys to exactly one; found 2 (east, west)" in p for p in found
    )
    assert any("meshc:clusters.west: same kubeconfig and context as 'east'" in p for p in found)
    one = parse_config("meshc", raw(spec="s", clusters={"east": {"context": "a"}, "north": {"context": "b"}}))
    found = cluster_problems("meshc", one, ["east", "west"], {"east", "west"})
    assert "meshc:clusters.north: the spec declares no cluster 'north' (declared: east, west)" in found
    assert any(p.startswith("meshc:clusters: no entry for cluster 'west'") for p in found)
    # A spec cluster that receives nothing from this (sharded) stack needs no entry.
    assert not [p for p in cluster_problems("meshc", one, ["east", "north"], {"east"}) if "no entry" in p]


def _end_to_end(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str, list[str], list[dict[str, Any]]]:
    result = plan_config(tmp_path, config)
    return result.exit_code, result.stderr, result.messages, result.resources


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"meshc:spc": "x"}, "meshc:spc: unknown config key"),
        (
            {"meshc:spec": "examples/nope/mesh.yaml"},
            "meshc:spec: examples/nope/mesh.yaml: no such file or directory",
        ),
        (
            {"meshc:clusters": {**PROD["meshc:clusters"], "north": {"context": "n"}}},
            "meshc:clusters.north: the spec declares no cluster 'north' (declared: east, west)",
        ),
        (
            {"meshc:clusters": {"east": PROD["meshc:clusters"]["east"]}},
            "meshc:clusters: no entry for cluster 'west', which receives resources from this stack",
        ),
        (
            {"meshc:shard": {"namespaces": ["shop"]}},
            "meshc:shard.namespaces: the mesh has no namespace 'shop'",
        ),
        (
            {"meshc:shard": {"teams": ["payments"]}},
            "meshc:shard.teams: no service belongs to team 'payments'",
        ),
    ],
)
def test_bad_config_stops_the_program_before_anything_is_registered(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    code, stderr, messages, resources = _end_to_end(tmp_path, {**PROD, **change})
    assert code == 2, stderr
    assert any(m.startswith(expected) for m in messages), messages
    assert resources == []  # not even the providers, components or the StackReference
    assert "Traceback" not in stderr
    assert "nothing was registered" in stderr


def test_spec_errors_stop_the_program_with_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    text = (REPO / "examples/bookinfo/mesh.yaml").read_text()
    spec.write_text(
        text.replace("- { service: ratings, methods: [GET]", "- { service: ratingz, methods: [GET]")
    )
    code, stderr, messages, resources = _end_to_end(
        tmp_path, {"meshc:spec": str(spec), "meshc:clusters": {"default": {"context": "kind"}}}
    )
    assert code == 1, stderr
    assert resources == []
    assert any(f"{spec}:" in m and "error MC101" in m for m in messages), messages
    assert "Traceback" not in stderr


def test_ignored_kubernetes_config_is_a_warning(tmp_path: Path) -> None:
    result = plan_config(tmp_path, {**stack_file_config("dev"), "kubernetes:context": "other"})
    assert result.exit_code == 0, result.stderr
    assert any(m.startswith("kubernetes:context: ignored") for m in result.messages)
