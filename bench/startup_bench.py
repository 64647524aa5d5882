"""Start-up: `meshc validate examples/bookinfo/mesh.yaml` beside `python -c pass`, same run.

    python bench/startup_bench.py [--rounds 15] [--spec examples/bookinfo/mesh.yaml]
    python bench/startup_bench.py --baseline /path/to/other/checkout   # before/after, interleaved

Validation runs in editors and pre-commit hooks on every save; on a small spec nearly all of its
time is start-up (imports, the self-check's schemas and CEL rules). Each round runs both commands,
interleaved, as fresh processes with the bytecode cache on (as an installed meshc has it: the
first, unmeasured, run writes it; PYTHONDONTWRITEBYTECODE is dropped for the children). Prints
wall and CPU seconds (user + system), min and median over the rounds, and the ratios. `meshc
validate` runs with meshc's caches warm (an unchanged spec: the build cache vouches for every
compiled object, so none is self-checked again); `meshc validate --no-cache` self-checks every
object, as the first validation of a spec does and about as an edit touching every object would
(an edit to one service self-checks only what it changed: in between). On a shared
machine the CPU figures and the ratios are the ones to compare (target: validate under 0.35 s wall
on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # `python -m meshc` finds meshc in the working directory first: run it in the checkout measured.
    cwd = env.get("PYTHONPATH", str(REPO))
    subprocess.run(
        command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spec", default="examples/bookinfo/mesh.yaml")
    parser.add_argument("--baseline", help="another meshc checkout to run interleaved (e.g. before a change)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    validate = [sys.executable, "-m", "meshc", "validate", str((REPO / args.spec).resolve())]
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "meshc validate": (validate, env),
        "validate --no-cache": ([*validate, "--no-cache"], env),
    }
    if args.baseline:
        commands["baseline validate"] = (validate, {**env, "PYTHONPATH": str(Path(args.baseline).resolve())})
    for command, command_env in commands.values():  # warm the bytecode and meshc's own caches
        timed(command, command_env)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (command, command_env) in commands.items():
            figures[name].append(timed(command, command_env))
    print(f"spec={args.spec} rounds={args.rounds} python={sys.version.split()[0]}")
    for name, runs in figures.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"  {name:<19} wall min={min(walls):.3f}s median={statistics.median(walls):.3f}s"
            f"   cpu min={min(cpus):.3f}s median={statistics.median(cpus):.3f}s"
        )
    base, validate_runs = figures["python -c pass"], figures["meshc validate"]
    for index, what in ((0, "wall"), (1, "cpu")):
        ratios = [v[index] / max(b[index], 1e-3) for v, b in zip(validate_runs, base, strict=True)]
        extra = [v[index] - b[index] for v, b in zip(validate_runs, base, strict=True)]
        print(
            f"  validate - pass {what:<4} min={min(extra):.3f}s median={statistics.median(extra):.3f}s"
            f"   validate / pass min={min(ratios):.1f}x median={statistics.median(ratios):.1f}x"
        )
    if args.baseline:
        for index, what in ((0, "wall"), (1, "cpu")):
            ratios = [
                v[index] / b[index] for v, b in zip(validate_runs, figures["baseline validate"], strict=True)
            ]
            print(
                f"  validate / baseline {what:<4} min={min(ratios):.2f}"
                f" median={statistics.median(ratios):.2f}"
            )
    print("  target: validate under 0.35 s wall on a quiet machine")


if __name__ == "__main__":
    main()
