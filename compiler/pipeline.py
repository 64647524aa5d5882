"""The pipeline: five named entry points, each taking what it needs and returning a typed result.

    parse(path)            -> Parsed     load the spec (YAML or CUE) and build the typed model + index
    check(parsed)          -> Checked    the semantic rules (MCnnn) and the CUE policies (--policy)
    lower(parsed)          -> Lowered    Kubernetes + Istio resources, no two with one name
    verify(lowered)        -> Verified   the self-check (CRD schemas, CEL) and the behaviour verifier
    emit(verified, output)               write the tree (self-checking on the way if `verify` did not)

`run` composes them in that order (sequentially, timing each step) and returns a `Compilation`;
`meshc.compiler.parallel.run` is the same composition with the rules forked beside lowering for a
big mesh, which the CLI drives. Parsing happens once at the edge; everything after works on typed,
immutable data. A step stops by raising `SpecError` (the user's input is wrong) or `CompilerBug`
(meshc is wrong).

`lower` takes the parsed spec, not the checked one, so that lowering can run before the rules have
finished (see `parallel`); on a spec the rules reject its result is never used.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from meshc.spec.diagnostics import Diagnostic, SpecError, has_errors
from meshc.spec.loader import LoadedSpec, load_spec
from meshc.spec.models import Mesh
from meshc.spec.structure import parse_mesh

from .emit import OutputError, OutputRejected, write_tree
from .exits import CompilerBug
from .gcpause import gc_paused
from .index import MeshIndex, ServiceInfo
from .lower import Manifest
from .lower import lower as lower_index
from .rules import RuleContext, run_rules

if TYPE_CHECKING:
    from .buildcache import BuildCache
    from .rules import Finding, Rule
    from .units import UnitKeys

T = TypeVar("T")


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parsed:
    """The spec as the typed model and its index; no rule has run yet."""

    path: str | Path
    loaded: LoadedSpec
    mesh: Mesh
    index: MeshIndex


@dataclass(frozen=True, slots=True)
class Checked:
    """A spec the rules and policies accepted, with what they found that does not reject it."""

    parsed: Parsed
    diagnostics: list[Diagnostic]
    """Warnings (never errors, and none at all under `strict`), in the order the checks found them."""

    @property
    def mesh(self) -> Mesh:
        return self.parsed.mesh

    @property
    def index(self) -> MeshIndex:
        return self.parsed.index


@dataclass(frozen=True, slots=True)
class Lowered:
    """The compiled resources of a parsed spec, in canonical order, no two with one name."""

    parsed: Parsed
    manifests: list[Manifest]
    fresh: frozenset[str] | None = None
    """For an incremental compile (`lower_incrementally`), the units (namespaces) lowered anew;
    the others' objects were taken from the build cache (with a `ReusedBody`). None: all anew."""
    probed: frozenset[str] = frozenset()
    """For an incremental compile, the services the behaviour verifier probes: those the edit
    touched, their callers and their callees (all in units lowered anew)."""
    changed: frozenset[str] = frozenset()
    """For an incremental compile, the units whose key changed."""
    unseen_gateways: frozenset[str] = frozenset()
    """For an incremental compile, the gateways whose Gateway and VirtualService were taken from
    the build cache in a unit lowered anew (`_gateways_reused`): the verifier does not see them."""


@dataclass(frozen=True, slots=True)
class Verified:
    """Lowered output and the checks it passed; `emit` runs the self-check if `verify` did not."""

    lowered: Lowered
    schemas_checked: bool
    behaviour_checked: bool


@dataclass(frozen=True, slots=True)
class Compilation:
    """What `run` returns: the checked spec, its verified output and how long each step took."""

    checked: Checked
    verified: Verified
    timings: Mapping[str, float]

    @property
    def path(self) -> str | Path:
        return self.checked.parsed.path

    @property
    def loaded(self) -> LoadedSpec:
        return self.checked.parsed.loaded

    @property
    def mesh(self) -> Mesh:
        return self.checked.parsed.mesh

    @property
    def index(self) -> MeshIndex:
        return self.checked.parsed.index

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.checked.diagnostics

    @property
    def manifests(self) -> list[Manifest]:
        return self.verified.lowered.manifests

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(map(operator.attrgetter("kind"), self.manifests)).items()))


# --- the entry points and their steps ---------------------------------------------------------------


def load(path: str | Path, overlays: Sequence[Path] = ()) -> LoadedSpec:
    """The spec's files read and parsed (YAML or CUE), with source positions; no model yet.
    `overlays` are merged onto a YAML spec in order (docs/overlays.md)."""
    return load_spec(path, overlays)


def _build_models() -> None:
    Mesh.model_rebuild()  # the validator pydantic defers to the first validation (~0.04 s)


def _import_verifier() -> None:
    from . import verify  # noqa: F401


def _import_self_check() -> None:
    from .selfcheck import check_resources  # noqa: F401  (its checkers, jsonschema_rs)


WARM_UPS: tuple[Callable[[], None], ...] = (_build_models, _import_verifier, _import_self_check)
"""What a compile does at its first validation, verification and self-check whatever the spec
(~0.065 s at start-up), in that order: `warm_up` does it earlier, while the process has nothing
else to do."""


def warm_up(done: Callable[[], bool]) -> None:
    """The `WARM_UPS`, one by one, until `done()`: a compile waiting for the read-ahead child to
    parse a big spec does them meanwhile, not after (a first compile at 10,000 services, with no
    pack to open, waits ~0.2 s; a recompile's child is usually done before the pack is open)."""
    for step in WARM_UPS:
        if done():
            return
        step()


def parse_loaded(path: str | Path, loaded: LoadedSpec) -> Parsed:
    """The structural check: JSON Schema shape and the pydantic models, then the index."""
    mesh = parse_mesh(loaded)
    return Parsed(path, loaded, mesh, MeshIndex(mesh))


def parse(path: str | Path, *, loaded: LoadedSpec | None = None, overlays: Sequence[Path] = ()) -> Parsed:
    """`load` + `parse_loaded`; callers reading from git hand in the sources they loaded."""
    try:
        return parse_loaded(path, load(path, overlays) if loaded is None else loaded)
    except SpecError as exc:
        raise SpecError(merged(exc.diagnostics), usage=exc.usage) from None


def rule_findings(parsed: Parsed, plan: RulePlan | None = None) -> list[Diagnostic]:
    """Every diagnostic of the semantic rules (errors and warnings), in the rules' order."""
    if plan is None:
        return run_rules(RuleContext(parsed.mesh, parsed.index), parsed.loaded.source)
    return rule_results(parsed, plan)[0]


FindingRow = tuple[str, str, str, list[Any], str, str | None, str | None]
"""A local rule's finding as the build cache keeps it: (code, the service's namespace and name, the
path below the service's entry, message, hint, severity). Its place in the file is worked out
anew from the path (an edit elsewhere moves the lines, an added service moves the entries)."""


@dataclass(frozen=True, slots=True)
class RulePlan:
    """The rules of an incremental compile (docs/rule-scopes.md): the local rules look at the
    services of `focus` only; the local findings of every other namespace holding services are
    the previous compile's (`reused`: their key did not change). Global rules run in full."""

    focus: frozenset[str]
    reused: tuple[tuple[Rule, Finding, tuple[str, str]], ...]
    keyed: frozenset[str]
    """The namespaces whose local findings this compile produces or reuses (all with a key)."""


def plan_rules(parsed: Parsed, keys: UnitKeys, cache: BuildCache) -> RulePlan:
    """What the rules must look at again: the namespaces whose key changed (or whose findings the
    cache does not hold in a form this meshc can read back)."""
    from .rules import RULES_BY_CODE, Finding

    index = parsed.index
    focus, reused = set(), []
    for unit, key in keys.keys.items():
        previous = cache.units.get(unit)
        rows = cache.findings.get(unit)
        if previous is None or previous[0] != key or rows is None:
            focus.add(unit)
            continue
        rebuilt = []
        for code, namespace, name, below, message, hint, severity in rows:
            info = index.find(namespace, name)
            rule = RULES_BY_CODE.get(code)
            if info is None or rule is None or rule.check_services is None:
                break
            path = ("spec", "services", info.index, *below)
            rebuilt.append((rule, Finding(path, message, hint, severity), (namespace, name)))
        else:
            reused += rebuilt
            continue
        focus.add(unit)
    return RulePlan(frozenset(focus), tuple(reused), frozenset(keys.keys))


def rule_results(parsed: Parsed, plan: RulePlan) -> tuple[list[Diagnostic], dict[str, list[FindingRow]]]:
    """The rules' diagnostics with `plan`, and every local finding of the keyed namespaces as rows
    for the build cache (the ones found anew and the ones reused)."""
    from .rules import OwnedFinding, owned_findings, to_diagnostics

    found = owned_findings(RuleContext(parsed.mesh, parsed.index, plan.focus))
    found += [OwnedFinding(*entry) for entry in plan.reused]
    rows: dict[str, list[FindingRow]] = {unit: [] for unit in plan.keyed}
    for rule, finding, service in found:
        if service is not None:
            below = list(finding.path[3:])
            rows.setdefault(service[0], []).append(
                (rule.code, service[0], service[1], below, finding.message, finding.hint, finding.severity)
            )
    return to_diagnostics(found, parsed.loaded.source), rows


def policy_findings(parsed: Parsed, policies: Sequence[Path]) -> list[Diagnostic]:
    """Organisation guardrails written in CUE; every violation is a diagnostic (none given: none)."""
    if not policies:
        return []
    from meshc.spec.cue.policy import check_policies as run_policies

    return run_policies(parsed.loaded, tuple(policies))


def accept(diagnostics: Sequence[Diagnostic], *, strict: bool) -> list[Diagnostic]:
    """`diagnostics` if they do not reject the spec; else SpecError with them, sorted, once each."""
    if has_errors(list(diagnostics), strict=strict):
        raise SpecError(merged(diagnostics))
    return list(diagnostics)


def merged(*groups: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of every group, each once, in reading order."""
    return sorted({d: None for group in groups for d in group}, key=lambda d: d.sort_key)


def check(parsed: Parsed, *, strict: bool = False, policies: Sequence[Path] = ()) -> Checked:
    """The semantic rules, then the policies. Raises SpecError with everything found so far."""
    found = accept(rule_findings(parsed), strict=strict)
    found = accept([*found, *policy_findings(parsed, policies)], strict=strict)
    return Checked(parsed, found)


def lower(parsed: Parsed) -> Lowered:
    """The compiled resources. A pure function of the parsed spec (a cache may wrap it)."""
    manifests = lower_index(parsed.index)
    check_unique_objects(manifests)
    return Lowered(parsed, manifests)


def lower_incrementally(parsed: Parsed, cache: BuildCache, keys: UnitKeys | None = None) -> Lowered:
    """`lower`, reusing from the build `cache` the objects of every unit (namespace) whose key is
    the previous compile's (`meshc.compiler.units`), except around what changed: the units whose
    key changed and those adjacent to them are lowered anew, so that the behaviour verifier has
    both ends of every edge that touches a change (`verify_behaviour`), and so are the gateways
    whose probes need it (`_gateways_probed_anew`). The result is the same list of objects as
    `lower`'s, some of them standing for their cached body."""
    from .units import loaded_unit_keys, unit_of, volatile_units

    index = parsed.index
    if keys is None:
        keys = loaded_unit_keys(parsed.loaded, index)
    if keys is None:
        lowered = lower(parsed)
        cache.keep_units({}, lowered.manifests, {})
        return lowered
    reusable = cache.reusable(keys.keys)
    changed = keys.keys.keys() - reusable.keys()
    near = keys.ring(changed)
    kept = {unit: objects for unit, objects in reusable.items() if unit not in near}
    # What the behaviour verifier probes (nothing kept: it probes everything, as for a full compile)
    edited = [index.services[k] for k in cache.edited_services(keys.services)] if kept else []
    probed = {s.key for s in edited}
    for info in edited:
        probed.update(edge.caller.key for edge in info.callers)
        probed.update(callee.key for callee in index.callees(info))
    # The gateways of a unit lowered anew whose own objects are the previous compile's
    reused_gateways = _gateways_reused(index, keys, cache, kept, probed) if kept else {}
    fresh = lower_index(index, skip=frozenset(kept), skip_gateways=frozenset(reused_gateways))
    if reused_gateways:
        fresh += [m for objects in reused_gateways.values() for m in objects]
        fresh.sort(key=operator.attrgetter("sort_key"))
    again = _gateways_probed_anew(index, cache, fresh, kept, probed, edited)
    if again:  # taken out of `kept`: their objects, lowered anew in a second pass over them only
        others = frozenset(kept) | frozenset(map(unit_of, fresh))
        fresh += [m for m in lower_index(index, skip=others - again) if unit_of(m) in again]
    check_unique_objects(fresh)  # the kept units' objects were unique when compiled, in their namespace
    manifests = _in_canonical_order(fresh, kept, index)
    volatile = volatile_units(fresh, index)
    # A unit is saved as reused only if every object of it was (none lowered anew lands there).
    reused = frozenset(kept) - set(map(unit_of, fresh))
    cache.keep_units(
        {u: k for u, k in keys.keys.items() if u not in volatile},
        manifests,
        keys.services,
        reused,
        keys.gateways,
    )
    if not kept:
        return Lowered(parsed, manifests)  # nothing reused: verified as a full compile is
    return Lowered(
        parsed,
        manifests,
        frozenset(map(unit_of, fresh)) | near | again,
        frozenset(probed),
        frozenset(changed),
        frozenset(reused_gateways),
    )


def _gateways_reused(
    index: MeshIndex, keys: UnitKeys, cache: BuildCache, kept: dict[str, list[Manifest]], probed: set[str]
) -> dict[str, list[Manifest]]:
    """The gateways whose Gateway and VirtualService are taken from the build cache although their
    namespace is lowered anew (a route target of another gateway there changed): each with the
    key the previous compile saw (`units.gateway_keys`), and its two objects.

    The behaviour verifier does not see those objects (a reused object holds no body). That is
    sound only while no probe could reach them: none of the gateway's routes sends to a probed
    service (no probe goes through it), and no host it serves is a wildcard or is served by another
    gateway or egress gateway (no probe through another gateway could be served by it instead).
    Otherwise the gateway is lowered anew with its namespace, as before."""
    from .verify.matching import dns_match
    from .verify.probes import OTHER_HOST

    candidates = []
    for name in index.gateways:
        found = keys.gateways.get(name)
        # its namespace lowered anew (not kept), under the key the previous compile saw
        if found is not None and found[0] not in kept and cache.gateways.get(name) == found:
            candidates.append((name, *found))
    if not candidates:
        return {}
    # the gateways with a route to a probed service (the index keeps each service's routes)
    probed_through = {gw.name for k in probed for gw, _, _ in index.services[k].gateway_routes}
    served = {name: _served_hosts(gateway) for name, (_, gateway) in index.gateways.items()}
    # Who serves each exact host, and every wildcard: one pass, not every pair of gateways.
    holders: dict[str, set[tuple[str, str]]] = {}
    wildcards: list[str] = []
    owners = [
        *((("gateway", name), hosts) for name, hosts in served.items()),
        *((("egress", name), {h.lower() for h in eg.hosts}) for name, (_, eg) in index.egress.items()),
        (("probe", ""), {OTHER_HOST}),
    ]
    for owner, hosts in owners:
        for host in hosts:
            if "*" in host:
                wildcards.append(host)
            else:
                holders.setdefault(host, set()).add(owner)
    out = {}
    for name, unit, key in candidates:
        hosts = served[name]
        if name in probed_through or any("*" in h for h in hosts):
            continue
        alone = {("gateway", name)}
        if any(holders[h] != alone or any(dns_match(w, h) for w in wildcards) for h in hosts):
            continue
        objects = cache.reusable_gateway(name, unit, key)
        if objects is not None:
            out[name] = objects
    return out


def _served_hosts(gateway: Any) -> set[str]:
    """Every host a gateway's servers serve (its own `hosts` for a server that names none, as its
    Gateway object says: `lower.ingress.gateway_hosts`), without a namespace prefix."""
    from .lower.ingress import gateway_hosts

    return {h.split("/", 1)[-1].lower() for h in gateway_hosts(gateway)}


def _gateways_probed_anew(
    index: MeshIndex,
    cache: BuildCache,
    fresh: list[Manifest],
    kept: dict[str, list[Manifest]],
    probed: set[str],
    edited: list[ServiceInfo],
) -> frozenset[str]:
    """The kept gateway namespaces (`units.gateway_targets`) whose objects the behaviour verifier
    needs lowered anew, taken out of `kept`; none mostly.

    The verifier probes every route to a probed service through the gateway's objects. Where those
    objects are reused they hold no body to probe, and the verifier leaves those probes out
    (`verify.check`); that is sound only while nothing a probe reads has changed: the gateway's
    objects (same key), the target's spec (not edited) and the target's objects, with its
    namespace's own (compared with the previous compile's by address). A new caller changes the
    target's policy: then its gateways are lowered again, in a second pass over those
    namespaces only, and probed with it."""
    from .buildcache import address
    from .units import gateway_targets, unit_of

    routed = {ns: targets for ns, targets in gateway_targets(index).items() if ns in kept}
    if not routed:
        return frozenset()
    at_stake = {index.services[k].index: index.services[k] for k in probed}
    reached = {i for targets in routed.values() for i in targets if i in at_stake}
    if not reached:
        return frozenset()
    edited_keys = {info.key for info in edited}
    units = {at_stake[i].namespace for i in reached}
    now: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {u: {} for u in units}
    for m in fresh:
        unit = unit_of(m)
        if unit in now:
            now[unit][(m.kind, m.namespace, m.name, m.cluster)] = (m.owner, address(m.body))
    moved = set()
    for i in reached:
        info = at_stake[i]
        if info.key in edited_keys:
            moved.add(i)
            continue
        if info.namespace in kept:
            continue  # reused whole: its objects are the previous compile's
        previous = cache.units.get(info.namespace)
        owners = (info.owner, None)
        before = (
            {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in previous[1] if r[4] in owners}
            if previous is not None
            else None
        )
        after = {k: v for k, v in now[info.namespace].items() if v[0] in owners}
        if before != after or any(v[1] is None for v in after.values()):
            moved.add(i)
    again = frozenset(ns for ns, targets in routed.items() if not moved.isdisjoint(targets))
    for ns in again:
        del kept[ns]
    return again


def _in_canonical_order(
    fresh: list[Manifest], kept: dict[str, list[Manifest]], index: MeshIndex
) -> list[Manifest]:
    """`fresh` and the `kept` units' objects (each in canonical order) in canonical order: objects
    without a namespace first (the Namespace objects, sorted), then namespace by namespace. In a
    multi-cluster mesh the cluster leads the order: sorted outright."""
    if index.clusters:
        return sorted([*fresh, *(m for objects in kept.values() for m in objects)], key=lambda m: m.sort_key)
    chunks: dict[str, list[Manifest]] = {unit: [] for unit in kept}
    top: list[Manifest] = []
    for m in fresh:
        if m.namespace is None:
            top.append(m)
        else:
            chunks.setdefault(m.namespace, []).append(m)
    for unit, objects in kept.items():
        cut = next((i for i, m in enumerate(objects) if m.namespace is not None), len(objects))
        top += objects[:cut]
        chunks[unit] += objects[cut:]
    top.sort(key=lambda m: m.sort_key)
    for unit in sorted(chunks):
        top += chunks[unit]
    return top


def check_unique_objects(manifests: Sequence[Manifest]) -> None:
    """The invariant that no two compiled objects share a kind, namespace and name (per cluster).

    Applying two such objects keeps only the last, silently (a service's ALLOW policy replacing
    the namespace's allow-nothing policy opens the namespace). The rules (MC150) reject every spec
    whose names collide; one that still gets here is a meshc bug, so nothing is written.
    """
    first: dict[tuple[str, str, str, str], Manifest] = {}
    problems = []
    for m in manifests:
        key = (m.cluster or "", m.kind, m.namespace or "", m.name)
        earlier = first.setdefault(key, m)
        if earlier is not m:
            where = f" in cluster {m.cluster}" if m.cluster else ""
            sources = f"{earlier.owner or 'the mesh'} and {m.owner or 'the mesh'}"
            problems.append(f"{m.ref}{where}: compiled twice (from {sources})")
    if problems:
        raise compiler_bug(problems)


def self_check(lowered: Lowered, cache: BuildCache | None = None) -> None:
    """Every resource valid against the vendored CRD schemas and CEL rules, else CompilerBug.
    Bodies the build `cache` holds passed it in an earlier compile (the check is a pure function
    of a body and of meshc's code, which the cache's fingerprint covers) and are not checked."""
    problems = self_check_problems(lowered.manifests if cache is None else cache.unchecked(lowered.manifests))
    if problems:
        raise compiler_bug(problems)


def self_check_problems(manifests: Sequence[Manifest]) -> list[str]:
    """Every schema, CEL and metadata problem of `manifests`, one line each (none: all valid)."""
    if not manifests:
        return []  # e.g. every body passed in an earlier compile (the build cache): nothing to load
    from .selfcheck import check_resources  # imported here: loading CRD schemas is not free

    problems = check_resources([m.body for m in manifests])
    return [f"{manifests[p.index].ref}: {p.path}: {p.message}" for p in problems]


def verify_behaviour(lowered: Lowered) -> None:
    """The behaviour verifier (compiler/verify, docs/verify.md): probes generated from the spec run
    against a model of what Istio does with the compiled resources. Output that lets an undeclared
    caller in, keeps a declared one out, routes elsewhere than the spec says or touches what the
    spec does not own is a meshc bug: CompilerBug (exit 3, nothing written). Advisory probes (a
    limit of Istio the spec can only avoid, see probes.Expect) never fail a compile."""
    from .verify import verify as run_verifier  # imported here: only commands that lower need it

    index = lowered.parsed.index
    if lowered.fresh is not None:  # the objects lowered anew, and the probes within them
        from .units import unit_of

        manifests = lowered.manifests
        fresh = list(itertools.compress(manifests, map(lowered.fresh.__contains__, map(unit_of, manifests))))
        if lowered.unseen_gateways:  # their objects in a unit lowered anew are the previous compile's
            from .buildcache import ReusedBody

            fresh = [m for m in fresh if type(m.body) is not ReusedBody]
        focus = (lowered.probed, lowered.fresh)
        if not run_verifier(index, fresh, focus=focus, unseen_gateways=lowered.unseen_gateways).bugs:
            return
        # A probe may still have reached an object this compile reused (a route that sends on
        # to a service elsewhere): judge the whole output, lowered anew, before calling it a bug.
        lowered = lower(lowered.parsed)
    report = run_verifier(index, lowered.manifests)
    if report.bugs:
        raise compiler_bug([f"verify: {r.probe.key}: {r.reason}" for r in report.bugs])


def verify(lowered: Lowered, *, schemas: bool = True, behaviour: bool = True) -> Verified:
    """The self-check (`schemas`), then the behaviour verifier (`behaviour`); CompilerBug on a
    problem. Without `schemas`, `emit` self-checks while writing (one pass over the output)."""
    if schemas:
        self_check(lowered)
    if behaviour:
        verify_behaviour(lowered)
    return Verified(lowered, schemas, behaviour)


def emit(
    verified: Verified,
    output: Path,
    cache: BuildCache | None = None,
    gate: Callable[[], None] | None = None,
) -> None:
    """Write the output to `output` atomically (see emit.write_tree), as `meshc compile -o DIR` does.

    Output `verify` did not self-check is checked in the processes that write the files (one per
    CPU for a big mesh), each on its own share before writing any of it: one pass over the output
    instead of two, and the check spread over the CPUs. A problem anywhere and nothing is written:
    CompilerBug, as from `self_check`. Raises emit.OutputError when the directory cannot be written.
    With the build `cache` (`meshc.compiler.buildcache`) known bodies are neither checked nor
    rendered again, and the cache is saved once the tree is in place. `gate` (see emit.write_tree)
    is called before anything in `output` changes and, in any case, before the cache is saved.
    """
    check = None if verified.schemas_checked else self_check_problems
    try:
        with gc_paused():
            write_tree(verified.lowered.manifests, output, check=check, cache=cache, gate=gate)
    except OutputRejected as exc:
        raise compiler_bug(exc.problems) from None
    if gate is not None:
        gate()  # when nothing in `output` changed, it was not needed before; the cache needs it
    if cache is not None:
        cache.save_tree()


def compiler_bug(problems: list[str]) -> CompilerBug:
    return CompilerBug(problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else []))


# --- composing them ---------------------------------------------------------------------------------


class Steps:
    """Runs the steps of one compilation: reports progress, times each step under its name, and
    adds the warnings found so far to a later step's SpecError (a rejected spec shows all of them).

    Step names (for `--timings` and the progress line): load, check_structure, check_semantics,
    check_policies, lower_resources, self_check, verify_output.
    """

    def __init__(
        self, progress: Callable[[str], None] | None = None, cache: BuildCache | None = None
    ) -> None:
        self.progress = progress
        self.cache = cache
        self.timings: dict[str, float] = {}
        self.warnings: list[Diagnostic] = []
        self.keys: UnitKeys | None = None
        """The units' keys of an incremental compile (`unit_keys`), once `rule_plan` has run."""

    def unit_keys(self, parsed: Parsed) -> UnitKeys | None:
        """With the build cache: the units' keys (None without it, or for a spec without keys)."""
        if self.cache is None:
            return None
        from .units import loaded_unit_keys

        self.keys = self.step("unit_keys", loaded_unit_keys, parsed.loaded, parsed.index)
        if self.keys is not None:  # before the rules fork (see BuildCache.edited_services)
            self.cache.edited_services(self.keys.services)
        return self.keys

    def rule_plan(self, parsed: Parsed) -> RulePlan | None:
        """With the build cache: the units' keys, and what the rules must look at again."""
        keys = self.unit_keys(parsed)
        return plan_rules(parsed, keys, self.cache) if keys is not None and self.cache is not None else None

    def rules(self, parsed: Parsed, plan: RulePlan | None) -> list[Diagnostic]:
        """The rules' diagnostics; with a `plan`, their local findings are kept for the cache."""
        if plan is None:
            return rule_findings(parsed)
        diagnostics, rows = rule_results(parsed, plan)
        assert self.cache is not None
        self.cache.keep_findings(rows)
        return diagnostics

    def step(self, name: str, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        if self.progress is not None:
            self.progress(name)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            raise SpecError(merged(self.warnings, exc.diagnostics), usage=exc.usage) from None
        finally:
            self.timings[name] = time.perf_counter() - start

    def parse(self, path: str | Path, loaded: LoadedSpec | None, overlays: Sequence[Path] = ()) -> Parsed:
        if loaded is None:
            loaded = self.step("load", load, path, overlays)
        return self.step("check_structure", parse_loaded, path, loaded)

    def policies(self, parsed: Parsed, policies: Sequence[Path], *, strict: bool) -> list[Diagnostic]:
        """The policies' findings added to the warnings so far (SpecError if they reject the spec)."""
        found = self.warnings
        self.warnings = self.step(
            "check_policies", lambda: accept([*found, *policy_findings(parsed, policies)], strict=strict)
        )
        return self.warnings

    def write(self, verified: Verified, output: Path, gate: Callable[[], None] | None = None) -> None:
        """`emit` to the directory `output`, timed as "self_check+write" and "cache_save"."""
        if self.progress is not None:
            self.progress("write")
        start = time.perf_counter()
        saved = self.cache.save_seconds if self.cache is not None else 0.0
        try:
            emit(verified, output, self.cache, gate)
        finally:
            saving = (self.cache.save_seconds - saved) if self.cache is not None else 0.0
            self.timings["self_check+write"] = time.perf_counter() - start - saving
            self.timings["cache_save"] = saving

    def lower_and_verify(self, parsed: Parsed, *, schemas: bool, behaviour: bool) -> Verified:
        if self.cache is None:
            lowered = self.step("lower_resources", lower, parsed)
        else:
            lowered = self.step("lower_resources", lower_incrementally, parsed, self.cache, self.keys)
        # An incremental compile addresses and self-checks here (a few new bodies, while the
        # rules may still run beside): `-o DIR` then only writes. A full compile to a directory
        # leaves both to the writers, which share them out over the CPUs.
        early = self.cache is not None and lowered.fresh is not None
        if self.cache is not None and (schemas or early):
            self.step("cache_keys", self.cache.prepare, lowered.manifests)
        if schemas or early:
            self.step("self_check", self_check, lowered, self.cache)
        if behaviour:
            self.step("verify_output", verify_behaviour, lowered)
        return Verified(lowered, schemas or early, behaviour)

    def compile(
        self,
        parsed: Parsed,
        *,
        strict: bool,
        policies: Sequence[Path],
        schemas: bool,
        behaviour: bool,
        output: Path | None = None,
    ) -> Compilation:
        """check -> lower -> verify (-> write to `output`) of a parsed spec, one after the other."""
        plan = self.rule_plan(parsed)
        self.warnings = self.step("check_semantics", lambda: accept(self.rules(parsed, plan), strict=strict))
        warnings = self.policies(parsed, policies, strict=strict)
        verified = self.lower_and_verify(parsed, schemas=schemas, behaviour=behaviour)
        if output is not None:
            try:
                self.write(verified, output)
            except OutputError as exc:
                exc.diagnostics = warnings  # the spec was accepted: its warnings still count
                raise
        return Compilation(Checked(parsed, warnings), verified, self.timings)


def run(
    path: str | Path,
    *,
    strict: bool = False,
    policies: Sequence[Path] = (),
    loaded: LoadedSpec | None = None,
    progress: Callable[[str], None] | None = None,
    schemas: bool = True,
    behaviour: bool = True,
    overlays: Sequence[Path] = (),
    cache: BuildCache | None = None,
    strategy: Callable[[Parsed], Callable[..., Compilation]] | None = None,
    output: Path | None = None,
) -> Compilation:
    """parse -> check -> lower -> verify, in one process; raises SpecError or CompilerBug.

    `schemas=False` leaves the self-check to `emit` (`meshc compile -o DIR`); `behaviour=False`
    skips the behaviour verifier (`meshc verify` reports its findings itself). `overlays` are
    merged onto a YAML spec read from `path` (docs/overlays.md). `cache`: the build cache
    (`meshc.compiler.buildcache`): with `schemas`, its `addresses` are set for the result's
    manifests and the self-check skips the bodies it knows. `strategy`: how check -> lower ->
    verify are composed once the spec is parsed (`Steps.compile`, one after the other, unless it
    picks another for that spec: `meshc.compiler.parallel` forks the rules for a big mesh).
    `output`: a directory to `emit` the result to (`meshc compile -o DIR`; use schemas=False),
    written only when the spec is accepted; emit.OutputError when it cannot be.
    """
    with gc_paused():
        steps = Steps(progress, cache)
        parsed = steps.parse(path, loaded, overlays)
        how = Steps.compile if strategy is None else strategy(parsed)
        return how(
            steps,
            parsed,
            strict=strict,
            policies=policies,
            schemas=schemas,
            behaviour=behaviour,
            output=output,
        )


def compile_mesh(path: str | Path, *, strict: bool = False) -> list[Manifest]:
    """Library entry point: the manifests of a valid spec (raises SpecError / CompilerBug)."""
    return run(path, strict=strict).manifests
