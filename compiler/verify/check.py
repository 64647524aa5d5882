"""Run the probes against the model of the compiled output and judge each against the spec."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..index import MeshIndex
from ..lower import Manifest, names
from .config import Config
from .engine import Model
from .outbound import scoping
from .probes import Expect, Plan, Probe, plan
from .request import Outcome, Step
from .spec_world import SpecWorld, has_sidecar, owned


@dataclass(frozen=True, slots=True)
class Result:
    probe: Probe
    ok: bool
    decision: str
    """allow, deny, partial."""
    reason: str
    chain: tuple[Step, ...]
    landed: tuple[tuple[str, float], ...] = ()


@dataclass
class Report:
    results: list[Result]
    undeclared_pairs: int
    sampled: bool
    seconds: float = 0.0
    setup_seconds: float = 0.0
    edges: int = 0
    edges_probed: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def bugs(self) -> list[Result]:
        """Failures that are meshc's: every failure but the advisory ones (see probes.Expect)."""
        return [r for r in self.failures if not r.probe.expect.advisory]

    @property
    def ok(self) -> bool:
        return not self.failures


def configs_for(manifests: Sequence[Manifest], index: MeshIndex) -> dict[str | None, Config]:
    spec = index.mesh.spec
    by_cluster: dict[str | None, list] = {}
    for m in manifests:
        by_cluster.setdefault(m.cluster, []).append(m.body)
    if not by_cluster:
        by_cluster[None] = []
    return {
        c: Config(
            bodies, root_namespace=spec.control_plane.root_namespace, cluster_domain=index.cluster_domain
        )
        for c, bodies in by_cluster.items()
    }


def verify(
    index: MeshIndex,
    manifests: Sequence[Manifest],
    *,
    seed: int = 0,
    focus: tuple[frozenset[str], frozenset[str]] | None = None,
    unseen_gateways: frozenset[str] = frozenset(),
) -> Report:
    """Probe the model of `manifests`. `focus` (an incremental compile, see
    pipeline.verify_behaviour): (the services probed, the namespaces whose objects `manifests`
    are); a probe that would involve a service outside the latter is left out, and so is one
    through a gateway of `unseen_gateways` (whose Gateway and VirtualService `manifests` do not
    hold: `pipeline._gateways_reused`)."""
    start = time.perf_counter()
    sw = SpecWorld(index)
    configs = configs_for(manifests, index)
    model = Model(configs, sw.world)
    bare: Model | None = None
    probe_plan: Plan = plan(index, sw, seed=seed, focus=focus[0] if focus else None)
    if focus is not None:
        probe_plan.probes = [
            p for p in probe_plan.probes if _within(index, p, focus[1]) and not _through(p, unseen_gateways)
        ]
    setup = time.perf_counter() - start
    results = []
    for probe in probe_plan.probes:
        if probe.via == "send-bare":
            if bare is None:
                names = frozenset(
                    s.key for s in index.services.values() if not owned(s) or not has_sidecar(index, s)
                )
                bare_world = SpecWorld(index, bare=names).world
                bare = Model(configs, bare_world)
            results.append(run_probe(bare, probe, index, manifests))
        else:
            results.append(run_probe(model, probe, index, manifests))
    report = Report(
        results,
        probe_plan.undeclared_pairs,
        probe_plan.sampled,
        edges=probe_plan.edges,
        edges_probed=probe_plan.edges_probed,
    )
    report.counts = dict(sorted(Counter(r.probe.kind for r in results).items()))
    report.seconds = time.perf_counter() - start
    report.setup_seconds = setup
    return report


def _within(index: MeshIndex, probe: Probe, focus: frozenset[str]) -> bool:
    """Whether every service `probe` names (its source and target) lives in a `focus` namespace,
    and, for a probe through a gateway, the gateway's namespaces too (its Gateway and
    VirtualService, the policies on its pods: `units.gateway_targets`); an incremental compile
    reuses them only when nothing such a probe reads has changed (`pipeline.lower_incrementally`).
    Egress hosts and workloads outside the mesh are judged by objects every incremental compile
    lowers anew (volatile units, see meshc.compiler.units)."""
    for end in (probe.source, probe.target):
        info = index.services.get(end)
        if info is not None and info.namespace not in focus:
            return False
        if end.startswith("gateway/"):
            found = index.gateways.get(end[len("gateway/") :])
            if found is not None:
                gateway = found[1]
                if not {index.gateway_namespace(gateway), gateway.workload.namespace} <= focus:
                    return False
    expect = probe.expect
    for host in (expect.service, expect.forbidden[0] if expect.forbidden else None):
        namespace = _namespace_of_host(index).get(host) if host is not None else None
        if namespace is not None and namespace not in focus:
            return False
    return True


def _through(probe: Probe, gateways: frozenset[str]) -> bool:
    """Whether `probe` starts or ends at one of `gateways`."""
    ends = (probe.source, probe.target)
    return bool(gateways) and any(e.startswith("gateway/") and e[len("gateway/") :] in gateways for e in ends)


def _namespace_of_host(index: MeshIndex) -> dict[str, str]:
    found = getattr(index, "_verify_hosts", None)
    if found is None:
        found = {info.fqdn: info.namespace for info in index.services.values()}
        index._verify_hosts = found  # type: ignore[attr-defined]
    return found


def evaluate(model: Model, probe: Probe) -> Outcome:
    assert probe.request is not None
    if probe.via == "ingress":
        return model.ingress(probe.workload, probe.request)
    if probe.via == "send-unscoped":
        return model.send(probe.workload, probe.request, scoped=False)
    if probe.via == "plaintext":
        return model.send(probe.workload, probe.request, plaintext=True)
    return model.send(probe.workload, probe.request)


def run_probe(model: Model, probe: Probe, index: MeshIndex, manifests: Sequence[Manifest]) -> Result:
    if probe.via == "foreign":
        return _foreign(model, probe, _intended_mesh_wide(index))
    if probe.via == "names":
        return _names(index, manifests, probe)
    outcome = evaluate(model, probe)
    ok, reason, chain = judge(probe.expect, outcome)
    landed = tuple(sorted(outcome.weights().items()))
    return Result(probe, ok, outcome.decision, reason, chain, landed)


def _version(target: str) -> str:
    return target.split("@", 1)[0]


def judge(expect: Expect, outcome: Outcome) -> tuple[bool, str, tuple[Step, ...]]:
    """Whether `outcome` is what `expect` says, with the reason and the deciding chain."""
    allowed = [x for x in outcome.landings if x.allowed]
    refused = [x for x in outcome.landings if not x.allowed]
    if expect.neutral:
        ours = next((x for x in refused if x.reason[:3] in ("401", "403")), None)
        if ours is not None:
            return (
                False,
                f"refused by this output's resources, though the spec does not govern it: {ours.reason}",
                ours.chain,
            )
        return True, _summary(outcome), _chain(outcome)
    if expect.forbidden is not None:
        service, path = expect.forbidden
        hit = next((x for x in allowed if x.service == service and x.path == path), None)
        if hit is not None:
            return False, f"delivered {path} to {service} without the route's claims: {hit.reason}", hit.chain
        return True, _summary(outcome), _chain(outcome)
    if not expect.allow:
        if allowed:
            x = allowed[0]
            return False, f"expected denied, but it reaches {x.target}: {x.reason}", x.chain
        return True, _summary(outcome), _chain(outcome)
    if refused:
        x = refused[0]
        return False, f"expected allowed, but {x.reason}", x.chain
    if not allowed:
        # No branch at all (e.g. a VirtualService rule without destinations): nothing received it.
        return False, "expected allowed, but no branch reaches a backend", ()
    wrong = next((x for x in allowed if expect.service is not None and x.service != expect.service), None)
    if wrong is not None:
        return False, f"expected to reach {expect.service}, but reaches {wrong.service}", wrong.chain
    if expect.versions is not None:
        got: dict[str, float] = {}
        for x in allowed:
            got[_version(x.target)] = got.get(_version(x.target), 0.0) + x.weight
        want = dict(expect.versions)
        if set(got) != set(want) or any(abs(got[k] - want[k]) > 1e-6 for k in want):
            shown = {k: round(v, 4) for k, v in sorted(got.items())}
            return False, f"lands on {shown}, the spec says {dict(sorted(want.items()))}", allowed[0].chain
    return True, _summary(outcome), _chain(outcome)


def _summary(outcome: Outcome) -> str:
    first = outcome.landings[0] if outcome.landings else None
    return first.reason if first else "no outcome"


def _chain(outcome: Outcome) -> tuple[Step, ...]:
    return outcome.landings[0].chain if outcome.landings else ()


def _intended_mesh_wide(index: MeshIndex) -> frozenset[tuple[str, str, str]]:
    """The root-namespace objects the spec asks for with `meshWide: true` (none without it)."""
    spec = index.mesh.spec
    return names.mesh_wide_objects(spec.control_plane.root_namespace) if spec.mesh_wide else frozenset()


def _foreign(model: Model, probe: Probe, intended: frozenset[tuple[str, str, str]]) -> Result:
    """No resource of this output may decide anything for a workload outside the mesh, but the
    mesh-wide defaults a `meshWide: true` spec asks for (docs/mesh-scope.md)."""
    w = probe.workload
    chain: list[Step] = []
    for config in model.configs.values():
        for kind in ("PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication", "Telemetry"):
            for res in config.applicable(kind, w):
                if (res.kind, res.namespace, res.name) in intended:
                    continue
                chain.append(
                    Step(
                        res.ref,
                        f"applies to {w.name} in namespace {w.namespace}",
                        "authz-scope" if kind != "PeerAuthentication" else "peer-authn",
                    )
                )
        scope = scoping(config, w, {})
        if scope.sidecar is not None:
            chain.append(Step(scope.sidecar.ref, f"scopes {w.name}'s outbound traffic", "sidecar-selection"))
    if chain:
        refs = sorted({s.resource for s in chain})
        return Result(
            probe,
            False,
            "affected",
            f"resources of this output govern a workload outside the mesh: {', '.join(refs)}",
            tuple(chain),
        )
    return Result(probe, True, "unaffected", "no resource of this output applies outside the mesh", ())


def _names(index: MeshIndex, manifests: Sequence[Manifest], probe: Probe) -> Result:
    """Resources in namespaces the mesh does not own (shared with other teams' specs) must carry the
    mesh's name as compiler/lower/names.py defines it (`is_mesh_scoped`: `<mesh>-...`), or two
    specs write one object (the last apply wins); the only exception is what `meshWide: true` asks
    for."""
    owned_ns = set(index.app_namespaces)
    intended = _intended_mesh_wide(index)
    shared = [
        m
        for m in manifests
        if m.namespace is not None
        and m.namespace not in owned_ns
        and m.kind != "Namespace"
        and (m.kind, m.namespace, m.name) not in intended
    ]
    clashing = sorted({m.ref for m in shared if not names.is_mesh_scoped(index.name, m.name)})
    if clashing:
        chain = tuple(
            Step(ref, "fixed name in a namespace other specs write to", "authz-scope") for ref in clashing
        )
        return Result(
            probe,
            False,
            "clash",
            f"names in shared namespaces not scoped by mesh '{index.name}': {', '.join(clashing)}",
            chain,
        )
    return Result(probe, True, "ok", "every resource in a shared namespace carries the mesh's name", ())
