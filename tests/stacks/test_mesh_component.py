"""`meshc.pulumi.Mesh` in a user's own Pulumi program (not meshc's), run under the SDK's mock engine
through `meshc plan` in the user's project directory: what it registers is what `meshc compile`
produces, under the user's providers, with the ordering guarantees, the outputs, and clean failures
before anything is registered."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from stackhelp import REPO, env_without_pulumi, expected, plain, plan, type_token

from meshc.compiler.pipeline import run

MESH_TYPE = "meshc:index:Mesh"
CLUSTER_TYPE = "meshc:deploy:Cluster"


def user_project(tmp: Path, program: str, spec: str = "multicluster", config: str = "") -> Path:
    """A Pulumi project of the user's, nothing of meshc's repository in it but a copy of a spec."""
    project = tmp / "platform"
    shutil.copytree(REPO / "examples" / spec, project / "mesh")
    (project / "Pulumi.yaml").write_text("name: platform\nruntime: python\n")
    (project / "Pulumi.test.yaml").write_text(
        "config:\n  pulumi:disable-default-providers: [kubernetes]\n" + textwrap.indent(config, "  ")
    )
    (project / "__main__.py").write_text(textwrap.dedent(program))
    return project


TWO_CLUSTERS = """\
    import pulumi
    import pulumi_kubernetes as k8s

    from meshc.pulumi import Cluster, Mesh

    east = k8s.Provider("east-admin", context="travel-east", enable_server_side_apply=True)
    mesh = Mesh(
        "travel",
        spec="mesh/mesh.yaml",
        clusters={"east": east, "west": Cluster(context="travel-west", kubeconfig="~/.kube/west.yaml")},
    )
    pulumi.export("hosts", mesh.ingress_hosts)
    pulumi.export("counts", mesh.resource_counts)
    pulumi.export("total", mesh.resource_count)
    pulumi.export("digest", mesh.spec_digest)
    """


def test_a_user_program_registers_the_compiled_mesh_under_its_own_providers(tmp_path: Path) -> None:
    project = user_project(tmp_path, TWO_CLUSTERS)
    result = plan("--stack", "test", cwd=project)
    assert result.exit_code == 0, result.stderr
    want = expected(run(project / "mesh" / "mesh.yaml").manifests)
    got = result.kube()
    assert set(got) == set(want)
    for name, m in want.items():
        assert got[name]["type"] == type_token(m.api_version, m.kind), name
        assert got[name]["inputs"] == plain(m.body), name
        # east: the user's provider, registered by the user at the stack's root; west: the one the
        # component built from Cluster(...), inside the west cluster component.
        assert got[name]["provider"] == ("east-admin" if name.startswith("east/") else "west"), name
    regs = result.by_name()
    assert regs["travel"]["type"] == MESH_TYPE and regs["travel"]["parent"] == "platform-test"  # the stack
    clusters = {r["name"]: r for r in result.resources if r["type"] == CLUSTER_TYPE}
    assert set(clusters) == {"east", "west"}
    assert all(c["parent"] == "travel" for c in clusters.values())
    assert regs["east-admin"]["parent"] == "platform-test"
    providers = {r["name"]: r for r in result.resources if r["type"] == "pulumi:providers:kubernetes"}
    assert set(providers) == {"east-admin", "west"}  # no provider built for east
    assert providers["west"]["parent"] == "west"  # inside the west cluster component
    assert providers["west"]["inputs"]["context"] == "travel-west"
    assert providers["west"]["inputs"]["kubeconfig"] == "~/.kube/west.yaml"  # the plan's display form
    # The provider itself receives the path with `~` expanded (Pulumi's provider would not).
    proc = subprocess.run(
        [sys.executable, "-m", "meshc.compiler.deploy.mockrun"],
        input=json.dumps({"directory": str(project), "stack": "test"}),
        capture_output=True,
        text=True,
        env=env_without_pulumi(),
        check=True,
    )
    raw = json.loads(proc.stdout)["registrations"]
    west = next(r for r in raw if r["type"] == "pulumi:providers:kubernetes" and r["name"] == "west")
    assert west["inputs"]["kubeconfig"] == str(Path("~/.kube/west.yaml").expanduser())


def test_a_user_program_gets_the_outputs(tmp_path: Path) -> None:
    project = user_project(tmp_path, TWO_CLUSTERS)
    result = plan("--stack", "test", cwd=project)
    assert result.exit_code == 0, result.stderr
    out = result.outputs
    manifests = run(project / "mesh" / "mesh.yaml").manifests
    assert out["total"] == len(manifests) == len(result.kube())
    assert out["counts"] == dict(sorted(_count(m.kind for m in manifests).items()))
    assert set(out["hosts"]) == {"east", "west"} and out["hosts"]["east"]
    assert out["digest"].startswith("sha256:") and len(out["digest"]) == len("sha256:") + 64
    # The subsets, for the next deployment's make-before-break, are exported by the component.
    assert out["destinationRuleSubsets"]["east/travel/reviews"] == ["v1", "v2"]


def _count(kinds: object) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(kinds))  # type: ignore[call-overload]


def test_the_spec_digest_follows_the_spec(tmp_path: Path) -> None:
    project = user_project(tmp_path, TWO_CLUSTERS)
    before = plan("--stack", "test", cwd=project).outputs["digest"]
    spec = project / "mesh" / "mesh.yaml"
    spec.write_text(spec.read_text() + "\n# a comment changes the bytes\n")
    after = plan("--stack", "test", cwd=project).outputs["digest"]
    assert before != after


def test_make_before_break_in_a_user_program(tmp_path: Path) -> None:
    project = user_project(tmp_path, TWO_CLUSTERS)
    dr, vs = "east/travel/DestinationRule/reviews", "east/travel/VirtualService/reviews"
    first = plan("--stack", "test", cwd=project).kube()
    assert dr in first[vs]["dependsOn"] and vs not in first[dr]["dependsOn"]
    # Deployed before with v3, which the spec no longer has: the routes move off v3 first.
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"destinationRuleSubsets": {"east/travel/reviews": ["v1", "v2", "v3"]}}))
    result = plan("--stack", "test", "--previous", str(previous), cwd=project)
    assert result.exit_code == 0, result.stderr
    kube = result.kube()
    assert vs in kube[dr]["dependsOn"] and dr not in kube[vs]["dependsOn"]
    # The StackReference is read first, and nothing lists it as a dependency.
    ref = next(r for r in result.resources if r["type"] == "pulumi:pulumi:StackReference")
    assert ref["inputs"]["name"] == "organization/platform/test"
    assert not [r for r in result.resources if ref["name"] in r["dependsOn"]]


def test_a_bad_argument_stops_the_program_before_anything_is_registered(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        clusters = {"east": "travel-east", "West_1": Cluster(context="w")}
        Mesh("travel", spec="mesh/mesh.yaml", clusters=clusters)
        """
    result = plan("--stack", "test", cwd=user_project(tmp_path, program))
    assert result.exit_code == 2, result.stderr
    assert result.resources == []
    joined = "\n".join(result.messages)
    expected_type = "expected a kubernetes.Provider or meshc.pulumi.Cluster, got str"
    assert f"Mesh('travel'): clusters.east: {expected_type}" in joined
    assert "Traceback" not in result.stderr


def test_a_cluster_the_spec_does_not_declare(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        clusters = {"east": Cluster(context="e"), "north": Cluster(context="n")}
        Mesh("travel", spec="mesh/mesh.yaml", clusters=clusters)
        """
    result = plan("--stack", "test", cwd=user_project(tmp_path, program))
    assert result.exit_code == 2, result.stderr
    assert result.resources == []
    problem = "Mesh('travel'):clusters.north: the spec declares no cluster 'north'"
    assert any(problem in m for m in result.messages), result.messages


def test_spec_errors_stop_the_program_with_exit_1_and_positions(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        Mesh("travel", spec="mesh/mesh.yaml", clusters={"default": Cluster(context="kind")})
        """
    project = user_project(tmp_path, program, spec="bookinfo")
    spec = project / "mesh" / "mesh.yaml"
    spec.write_text(spec.read_text().replace("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 50, v9: 50 }"))
    result = plan("--stack", "test", cwd=project)
    assert result.exit_code == 1, result.stderr
    assert result.resources == []
    assert any(m.startswith("mesh/mesh.yaml:") and " error MC" in m for m in result.messages), result.messages


def test_a_missing_spec_is_a_usage_error(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        Mesh("travel", spec="nowhere.yaml", clusters={"default": Cluster(context="kind")})
        """
    result = plan("--stack", "test", cwd=user_project(tmp_path, program))
    assert result.exit_code == 2, result.stderr
    assert result.resources == []
    assert any("spec nowhere.yaml: no such file or directory" in m for m in result.messages)


def test_two_meshes_cannot_record_subsets_in_one_output_or_share_a_cluster_name(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        Mesh("a", spec="mesh/mesh.yaml", clusters={"one": Cluster(context="one")})
        Mesh("b", spec="mesh/mesh.yaml", clusters={"two": Cluster(context="two")})
        """
    result = plan("--stack", "test", cwd=user_project(tmp_path, program, spec="bookinfo"))
    assert result.exit_code == 2, result.stderr
    assert any("subsets_output" in m for m in result.messages)
    shared = program.replace('clusters={"two"', 'subsets_output="bSubsets", clusters={"one"')
    result = plan("--stack", "test", cwd=user_project(tmp_path / "shared", shared, spec="bookinfo"))
    assert result.exit_code == 2, result.stderr
    assert any("Mesh('b'): clusters.one: another Mesh" in m for m in result.messages), result.messages
    distinct = program.replace('clusters={"two"', 'subsets_output="bSubsets", clusters={"two"')
    result = plan("--stack", "test", cwd=user_project(tmp_path / "distinct", distinct, spec="bookinfo"))
    assert result.exit_code == 0, result.stderr
    assert {n.split("/")[0] for n in result.kube()} == {"one", "two"}
    assert set(result.outputs) == {"destinationRuleSubsets", "bSubsets"}


def test_relative_spec_paths_resolve_against_the_project_whatever_the_working_directory(
    tmp_path: Path,
) -> None:
    project = user_project(tmp_path, TWO_CLUSTERS)
    here = plan("--stack", "test", cwd=project)
    elsewhere = plan("--stack", "test", "-C", str(project), cwd=Path("/"))
    assert here.exit_code == elsewhere.exit_code == 0, elsewhere.stderr
    assert here.resources == elsewhere.resources


def test_meshcs_own_program_keeps_the_urns_its_stacks_were_deployed_with() -> None:
    """Its cluster components now sit under the Mesh component; an alias to the stack's root keeps
    the URNs of the stacks deployed before, so `pulumi up` replaces nothing."""
    result = plan("--stack", "prod")
    assert result.exit_code == 0, result.stderr
    clusters = {r["name"]: r for r in result.resources if r["type"] == CLUSTER_TYPE}
    assert set(clusters) == {"east", "west"}
    for cluster in clusters.values():
        assert cluster["parent"] == "mesh"
        assert cluster["aliases"] == ["parent=none"]
    assert all("aliases" not in r for r in result.kube().values())


def test_a_spec_that_is_not_a_path_is_an_argument_error(tmp_path: Path) -> None:
    program = """\
        from meshc.pulumi import Cluster, Mesh

        Mesh("travel", spec=None, clusters={"default": Cluster(context="kind")})
        """
    result = plan("--stack", "test", cwd=user_project(tmp_path, program))
    assert result.exit_code == 2, result.stderr
    assert result.resources == []
    assert any("Mesh('travel'): spec: expected the path" in m for m in result.messages), result.messages
