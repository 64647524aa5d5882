"""Benchmark: the Pulumi program under the SDK's mock engine, for a synthetic mesh of N services.

    python bench/stack_bench.py --services 1000 [--runs 3]

Every measurement is a fresh process (the Pulumi SDK keeps global state):

- program: the real program (`main` of Pulumi.yaml) for a one-cluster stack on the synthetic spec:
  config -> compile -> register (components, providers, dependsOn, typed classes) -> outputs;
- baseline: the same compiled manifests registered with bare `CustomResource(...)` calls (no
  components, provider, options or outputs), under the same mocks, as a plain Python process;
- tuned: the baseline again, with the program's garbage-collector setting
  (`meshc.pulumi.program.collect_garbage_rarely`): what that setting alone saves;
- classes: the classes the program uses (pulumi-kubernetes' typed classes for core kinds, with the
  program's `drop_removed_api_aliases`; `CustomResource` for Istio kinds) called bare, with the
  program's GC setting: the program's registrations minus what it adds (components, providers,
  dependsOn, outputs).

It prints `resources=R seconds=S per_resource_ms=P` for the program run alone (the fastest of the
runs), then the program's overhead against each yardstick. The shared machines this runs on change
speed by tens of percent from one minute to the next, so sequential runs cannot resolve a 10%
difference: the overheads come from the program and the yardstick running *at the same time*
(each is one Python process on one of the two CPUs), as the median of the runs' ratios, with
each run's ratio shown. The overhead counts the program's compile step (meshc's pipeline, included
in `seconds`); "registration alone" leaves it out. Every phase imports pulumi-kubernetes' modules
before its clock starts (a one-time ~1-2 s for the big generated type modules, the same for any
stack size). Not a timed test: run it and read the figures (target: overhead within 10% of the
baseline).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _config(spec: Path) -> dict[str, str]:
    return {
        "meshc:spec": str(spec),
        "meshc:clusters": json.dumps({"default": {"context": "bench"}}),
    }


def _preload() -> None:
    """Import the generated modules of every class either phase uses, outside the timed part."""
    import pulumi_kubernetes as k8s

    from meshc.pulumi.components import typed_classes

    typed_classes()
    _ = k8s.apiextensions.CustomResource


def phase_program(spec: Path) -> dict[str, float]:
    from meshc.compiler.deploy.mockrun import load_project, run_program

    _preload()

    project = load_project(REPO)
    cpu = time.process_time()
    run = run_program(project, "bench", _config(spec), record_inputs=False)
    cpu = time.process_time() - cpu
    if run.exit_code:
        raise SystemExit(f"program failed: {run.error}\n" + "\n".join(m for _, m in run.logs))
    from meshc.pulumi.program import TIMINGS

    resources = sum(1 for r in run.registrations if r.custom and r.type.startswith("kubernetes:"))
    return {
        "resources": resources,
        "registrations": len(run.registrations),
        "seconds": run.seconds,
        "cpu_seconds": cpu,
        "compile_seconds": TIMINGS.get("compile", 0.0),
    }


def phase_baseline(spec: Path, *, typed: bool, tuned: bool = False) -> dict[str, float]:
    import pulumi
    import pulumi_kubernetes as k8s

    from meshc.compiler.deploy.mockrun import load_project, run_program
    from meshc.compiler.pipeline import run
    from meshc.pulumi.components import _arg_name, drop_removed_api_aliases, typed_classes

    _preload()
    manifests = run(spec).manifests
    classes = typed_classes() if typed else {}
    if tuned or typed:
        from meshc.pulumi.program import collect_garbage_rarely

        collect_garbage_rarely()

    def bare() -> None:
        for m in manifests:
            name = f"default/{m.namespace or m.name}/{m.kind}/{m.name}"
            cls = classes.get((m.api_version, m.kind))
            if cls is not None:
                args = {_arg_name(k): v for k, v in m.body.items() if k not in ("apiVersion", "kind")}
                cls(name, **args, opts=pulumi.ResourceOptions(transformations=[drop_removed_api_aliases]))
            else:
                k8s.apiextensions.CustomResource(
                    name,
                    api_version=m.api_version,
                    kind=m.kind,
                    metadata=m.body.get("metadata"),
                    spec=m.body.get("spec"),
                )

    cpu = time.process_time()
    result = run_program(load_project(REPO), "bench", {}, record_inputs=False, program=bare)
    cpu = time.process_time() - cpu
    if result.exit_code:
        raise SystemExit(f"baseline failed: {result.error}")
    return {
        "resources": len(manifests),
        "registrations": len(result.registrations),
        "seconds": result.seconds,
        "cpu_seconds": cpu,
    }


def _start(name: str, spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--phase", name, "--spec", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(name: str, proc: subprocess.Popen[str]) -> dict[str, float]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{name} phase failed:\n{err}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _phases(spec: Path, *names: str) -> list[dict[str, float]]:
    """Run the phases at the same time, each in a fresh process: a pair sees the same machine."""
    procs = [(name, _start(name, spec)) for name in names]
    try:
        return [_finish(name, proc) for name, proc in procs]
    finally:  # one failed: do not leave the other running
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


YARDSTICKS = {
    "baseline": ("bare CustomResource calls", "the target: within 10%"),
    "tuned": (
        "bare CustomResource calls, the program's GC setting",
        "the same loop with the program's GC setting",
    ),
    "classes": (
        "the program's classes called as the program calls them, its GC setting",
        "the program's own work: components, providers, dependsOn, outputs",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="repeat every measurement (default 3)")
    parser.add_argument("--phase", choices=("program", *YARDSTICKS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        if args.phase == "program":
            result = phase_program(args.spec)
        else:
            result = phase_baseline(args.spec, typed=args.phase == "classes", tuned=args.phase == "tuned")
        print(json.dumps(result))
        return

    from synthetic import write_spec

    alone: list[dict[str, float]] = []
    paired: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {name: [] for name in YARDSTICKS}
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(args.services, Path(tmp) / "mesh.yaml")
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}: program alone", file=sys.stderr, flush=True)
            alone += _phases(spec, "program")
            for name in YARDSTICKS:
                print(f"run {run}/{args.runs}: program beside {name}", file=sys.stderr, flush=True)
                program, other = _phases(spec, "program", name)
                paired[name].append((program, other))

    best = min(alone, key=lambda r: r["seconds"])
    n = int(best["resources"])
    compile_s = best["compile_seconds"]
    print(f"resources={n} seconds={best['seconds']:.2f} per_resource_ms={1000 * best['seconds'] / n:.2f}")
    print(
        f"  program alone, fastest of {len(alone)}: compile {compile_s:.2f}s (meshc pipeline), "
        f"registration {best['seconds'] - compile_s:.2f}s; {int(best['registrations'])} registrations "
        f"with components, providers and the StackReference; cpu {best['cpu_seconds']:.2f}s"
    )

    def pct(ratio: float) -> str:
        return f"{100 * (ratio - 1):+.1f}%"

    for name, (what, meaning) in YARDSTICKS.items():
        runs = paired[name]
        whole = sorted(p["seconds"] / o["seconds"] for p, o in runs)
        register = sorted((p["seconds"] - p["compile_seconds"]) / o["seconds"] for p, o in runs)
        other = min((o for _, o in runs), key=lambda r: r["seconds"])
        print(
            f"{name}: resources={int(other['resources'])} per_resource_ms="
            f"{1000 * other['seconds'] / other['resources']:.2f} beside the program ({what})"
        )
        print(
            f"  overhead vs {name}: {pct(statistics.median(whole))} median of {len(whole)} "
            f"(runs: {', '.join(pct(r) for r in whole)}); registration alone "
            f"{pct(statistics.median(register))}: {meaning}"
        )


if __name__ == "__main__":
    main()
