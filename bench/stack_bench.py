"""Benchmark: the Pulumi program under the SDK's mock engine, for a synthetic mesh of N services.

    python bench/stack_bench.py --services 1000

Runs, each in a fresh process (the Pulumi SDK keeps global state):

- program: the real program (`main` of Pulumi.yaml) for a one-cluster stack on the synthetic spec:
  config -> compile -> register (components, providers, dependsOn, typed classes) -> outputs;
- baseline: the same compiled manifests registered with bare `CustomResource(...)` calls (no
  components, provider, options or outputs), under the same mocks, as a plain Python process;
- tuned: the baseline again, with the program's garbage-collector setting
  (`stacks.program.collect_garbage_rarely`): what that setting alone saves;
- classes: bare calls of the classes the program uses (pulumi-kubernetes' typed classes for core
  kinds, `CustomResource` for Istio kinds), with the program's GC setting: what the typed classes
  cost inside the SDK, so that the program is compared with the same registrations minus what the
  program adds (components, providers, dependsOn, outputs);

and prints `resources=R seconds=S per_resource_ms=P` for the program, then the three baselines and
the program's overhead against each. The compile step (meshc's pipeline, the cost of
`meshc compile`) is reported separately: the overheads compare registration work. Every phase
imports pulumi-kubernetes' modules before its clock starts (a one-time ~1-2 s for the big
generated type modules, the same for any stack size).
Seconds are wall-clock; CPU seconds are shown too, steadier on a shared machine. Not a timed test:
run it and read the figures (target: program overhead within 10%).
"""

from __future__ import annotations

import argparse
import json
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

    from stacks.components import typed_classes

    typed_classes()
    _ = k8s.apiextensions.CustomResource


def phase_program(spec: Path) -> dict[str, float]:
    from compiler.deploy.mockrun import load_project, run_program

    _preload()

    project = load_project(REPO)
    cpu = time.process_time()
    run = run_program(project, "bench", _config(spec), record_inputs=False)
    cpu = time.process_time() - cpu
    if run.exit_code:
        raise SystemExit(f"program failed: {run.error}\n" + "\n".join(m for _, m in run.logs))
    from stacks.program import TIMINGS

    resources = sum(1 for r in run.registrations if r.custom and r.type.startswith("kubernetes:"))
    return {
        "resources": resources,
        "registrations": len(run.registrations),
        "seconds": run.seconds,
        "cpu_seconds": cpu,
        "compile_seconds": TIMINGS.get("compile", 0.0),
    }


def phase_baseline(spec: Path, *, typed: bool, tuned: bool = False) -> dict[str, float]:
    import pulumi_kubernetes as k8s

    from compiler.deploy.mockrun import load_project, run_program
    from compiler.pipeline import run
    from stacks.components import _arg_name, typed_classes

    _preload()
    manifests = run(spec).manifests
    classes = typed_classes() if typed else {}
    if tuned or typed:
        from stacks.program import collect_garbage_rarely

        collect_garbage_rarely()

    def bare() -> None:
        for m in manifests:
            name = f"default/{m.namespace or m.name}/{m.kind}/{m.name}"
            cls = classes.get((m.api_version, m.kind))
            if cls is not None:
                cls(name, **{_arg_name(k): v for k, v in m.body.items() if k not in ("apiVersion", "kind")})
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


def _phase(name: str, spec: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--spec", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{name} phase failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1, help="repeat each phase and keep the fastest run")
    parser.add_argument(
        "--phase", choices=("program", "baseline", "classes", "tuned"), help=argparse.SUPPRESS
    )
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

    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(args.services, Path(tmp) / "mesh.yaml")
        runs: dict[str, list[dict[str, float]]] = {"program": [], "baseline": [], "tuned": [], "classes": []}
        for _ in range(args.runs):  # interleaved, so a busy moment does not hit one phase only
            for name in runs:
                runs[name].append(_phase(name, spec))
    best = {name: min(results, key=lambda r: r["seconds"]) for name, results in runs.items()}
    program, baseline, classes, tuned = best["program"], best["baseline"], best["classes"], best["tuned"]
    n = int(program["resources"])
    compile_s = program["compile_seconds"]
    register = program["seconds"] - compile_s
    print(
        f"resources={n} seconds={program['seconds']:.2f} per_resource_ms={1000 * program['seconds'] / n:.2f}"
    )
    print(
        f"  program: compile {compile_s:.2f}s (meshc pipeline), registration {register:.2f}s "
        f"({1000 * register / n:.2f} ms/resource; {int(program['registrations'])} registrations with "
        f"components, providers and the StackReference), cpu {program['cpu_seconds']:.2f}s"
    )
    whats = {
        "baseline": "bare CustomResource calls",
        "tuned": "bare CustomResource calls, the program's GC setting",
        "classes": "bare calls of the program's classes, the program's GC setting",
    }
    for label, base in (("baseline", baseline), ("tuned", tuned), ("classes", classes)):
        print(
            f"{label}: resources={int(base['resources'])} seconds={base['seconds']:.2f} "
            f"per_resource_ms={1000 * base['seconds'] / base['resources']:.2f} "
            f"({whats[label]}, cpu {base['cpu_seconds']:.2f}s)"
        )

    def pct(a: float, b: float) -> str:
        return f"{100 * (a - b) / b:+.1f}%"

    cpu_register = program["cpu_seconds"] - compile_s
    for label, base, meaning in (
        ("baseline", baseline, "the issue's yardstick: a plain loop of CustomResource calls"),
        ("tuned", tuned, "the same loop with the program's GC setting"),
        ("classes", classes, "the program's own work: components, providers, dependsOn, outputs"),
    ):
        print(
            f"overhead vs {label + ':':<9} registration {pct(register, base['seconds'])} "
            f"(cpu {pct(cpu_register, base['cpu_seconds'])}), with compile "
            f"{pct(program['seconds'], base['seconds'])}: {meaning}"
        )
    print(
        f"the GC setting alone saves {pct(tuned['seconds'], baseline['seconds'])}; the typed classes "
        f"cost {pct(classes['seconds'], tuned['seconds'])} over CustomResource under the same setting"
    )


if __name__ == "__main__":
    main()
