"""Make-before-break for subsets: a DestinationRule gaining a subset goes before the VirtualService
routing to it; one losing a subset goes after. The direction depends on the previous deployment's
`destinationRuleSubsets` output, which the program reads back through a StackReference to its own
stack; under the mock engine the test supplies those outputs (`meshc plan --previous`)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from stackhelp import REPO, env_without_pulumi, plan, stack_plan

from meshc.pulumi.ordering import DR_FIRST, VS_FIRST, SubsetRouting, decide

DR = "east/travel/DestinationRule/reviews"
VS = "east/travel/VirtualService/reviews"
GATEWAY_VS = "east/travel/VirtualService/public"
WEST_DR = "west/travel/DestinationRule/reviews"
WEST_VS = "west/travel/VirtualService/reviews"


def previous(tmp: Path, subsets: dict[str, list[str]]) -> str:
    path = tmp / "previous.json"
    path.write_text(json.dumps({"destinationRuleSubsets": subsets, "specDigest": "sha256:old"}))
    return str(path)


def test_the_previous_state_is_read_from_the_stack_itself_before_anything_is_registered() -> None:
    result = stack_plan("prod")
    refs = [r for r in result.resources if r["type"] == "pulumi:pulumi:StackReference"]
    assert len(refs) == 1
    assert refs[0]["inputs"]["name"] == "organization/meshc/prod"
    assert refs[0]["read"] is True
    # The values are known when the resources are registered: plain dependsOn lists, nothing
    # waits on the StackReference itself.
    assert not [r for r in result.resources if refs[0]["name"] in r["dependsOn"]]
    proc = subprocess.run(
        [sys.executable, "-m", "meshc.compiler.deploy.mockrun"],
        input=json.dumps({"directory": str(REPO), "stack": "prod"}),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env_without_pulumi(),
        check=True,
    )
    regs = json.loads(proc.stdout)["registrations"]
    read = next(r["seq"] for r in regs if r["type"] == "pulumi:pulumi:StackReference")
    assert read < min(r["seq"] for r in regs if r["type"] != "pulumi:pulumi:StackReference")


def test_subset_added_destination_rule_first(tmp_path: Path) -> None:
    # Deployed before: reviews with v1 only; now v2 is added and gets 10% of the traffic.
    result = plan("--stack", "prod", "--previous", previous(tmp_path, {"east/travel/reviews": ["v1"]}))
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert DR in kube[VS]["dependsOn"]
    assert VS not in kube[DR]["dependsOn"]
    assert result.data["previousDeployment"] is True


def test_subset_removed_virtual_services_first(tmp_path: Path) -> None:
    # Deployed before: reviews had v1, v2 and v3; the spec now has v1 and v2 only.
    result = plan(
        "--stack",
        "prod",
        "--previous",
        previous(tmp_path, {"east/travel/reviews": ["v1", "v2", "v3"], "west/travel/reviews": ["v1", "v2"]}),
    )
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert VS in kube[DR]["dependsOn"]
    assert GATEWAY_VS not in kube[DR]["dependsOn"]  # the gateway routes to frontend, not reviews
    assert DR not in kube[VS]["dependsOn"]
    # west's reviews did not change: the usual direction there.
    assert WEST_DR in kube[WEST_VS]["dependsOn"]
    assert not [m for m in result.messages if "two steps" in m]


def test_unchanged_subsets_keep_the_usual_direction(tmp_path: Path) -> None:
    unchanged = stack_plan("prod").outputs["destinationRuleSubsets"]
    result = plan("--stack", "prod", "--previous", previous(tmp_path, unchanged))
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert DR in kube[VS]["dependsOn"] and VS not in kube[DR]["dependsOn"]


def test_adding_and_removing_in_one_update_warns_to_split_the_rollout(tmp_path: Path) -> None:
    # Before: v1 and v3; now v1 and v2 (v2 is routed to): cannot be made safe by ordering alone.
    result = plan("--stack", "prod", "--previous", previous(tmp_path, {"east/travel/reviews": ["v1", "v3"]}))
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert DR in kube[VS]["dependsOn"] and VS not in kube[DR]["dependsOn"]
    warnings = [m for m in result.messages if "east/travel/reviews" in m]
    assert len(warnings) == 1 and "two steps" in warnings[0] and "v3" in warnings[0]


def test_previous_outputs_from_stdin(tmp_path: Path) -> None:
    data = json.dumps({"destinationRuleSubsets": {"east/travel/reviews": ["v1", "v2", "v3"]}})
    result = plan("--stack", "prod", "--previous", "-", stdin=data)
    assert result.exit_code == 0, result.stderr
    assert VS in result.kube()[DR]["dependsOn"]


def test_bad_previous_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "prev.json"
    bad.write_text("not json")
    result = plan("--stack", "prod", "--previous", str(bad))
    assert result.exit_code == 2
    assert "--previous" in result.stderr and "Traceback" not in result.stderr


def _routing(
    rules: dict[str, tuple[str, ...]], services: dict[str, dict[str, frozenset[str]]]
) -> SubsetRouting:
    from meshc.pulumi.ordering import DestinationRuleInfo

    routing = SubsetRouting()
    for key, subsets in rules.items():
        routing.rules[key] = DestinationRuleInfo(key, key, "c", key, subsets)
    for vs, targets in services.items():
        for dr, subsets in targets.items():
            routing.routing_to[dr].append((vs, subsets))
    return routing


def test_decisions_never_form_a_cycle() -> None:
    """Random rules, routes and previous states: the make-before-break edges are always acyclic,
    so Pulumi can never deadlock waiting on them."""
    rng = random.Random(7)
    names = ["v1", "v2", "v3", "v4"]
    for _ in range(400):
        rules = {f"dr{i}": tuple(rng.sample(names, rng.randint(0, 4))) for i in range(rng.randint(1, 4))}
        services = {
            f"vs{j}": {
                dr: frozenset(rng.sample(list(subsets), rng.randint(0, len(subsets))))
                for dr, subsets in rules.items()
                if rng.random() < 0.6
            }
            for j in range(rng.randint(1, 4))
        }
        prior = {dr: rng.sample(names, rng.randint(0, 4)) for dr in rules if rng.random() < 0.8}
        decision = decide(_routing(rules, services), prior)
        edges = decision.depends
        state: dict[str, int] = {}

        def visit(node: str, edges: dict[str, list[str]] = edges, state: dict[str, int] = state) -> None:
            state[node] = 1
            for nxt in edges.get(node, []):
                assert state.get(nxt) != 1, f"cycle through {node} -> {nxt}"
                if nxt not in state:
                    visit(nxt)
            state[node] = 2

        for node in list(edges):
            if node not in state:
                visit(node)
        assert set(decision.direction.values()) <= {DR_FIRST, VS_FIRST}


def test_an_autoscaler_is_registered_after_the_deployment_it_scales() -> None:
    """prod's frontend is autoscaled: its HorizontalPodAutoscaler waits for its Deployment (until
    the Deployment exists the autoscaler reports FailedGetScale); the Deployment waits for its
    ServiceAccount; budgets and autoscalers use pulumi-kubernetes' typed classes."""
    kube = stack_plan("prod").kube()
    hpa = kube["east/travel/HorizontalPodAutoscaler/frontend-v1"]
    assert hpa["type"] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    assert "east/travel/Deployment/frontend-v1" in hpa["dependsOn"]
    pdb = kube["east/travel/PodDisruptionBudget/reviews-v1"]
    assert pdb["type"] == "kubernetes:policy/v1:PodDisruptionBudget"
    assert "replicas" not in kube["east/travel/Deployment/frontend-v1"]["inputs"]["spec"]
