"""What a recompile into an existing `-o DIR` costs after each kind of pull request.

    python bench/recompile_bench.py --services 10000 --rounds 3

`peer_bench.py` times the recompile after one kind of edit (a route's timeout). A mesh's pull
requests are of other kinds too, and they reach further: a call added from one namespace to
another changes the objects of two namespaces; a service added changes who exists. Each round runs,
interleaved:

    stream               meshc compile SPEC -o - --no-cache > /dev/null (a full compile: the yardstick)
    timeout              one service's route timeout changed (peer_bench's meshc-one; the service
                         is a route target itself)
    timeout-near-routed  the same on a service no route sends to that calls one a route sends to
    call                 one service calls a service in another namespace
    call-routed          the same from a service no route sends to, to one a gateway routes to
    service              a service added (a copy of one, under a new name, in its namespace)

Before each edit, DIR and the build cache are set to the unedited spec's (a compile that is not
timed), so every edit starts from the same state. Prints wall and CPU seconds (min / median) of
each and its ratio to the stream compile of the same round; with `--timings`, meshc's own
breakdown of the last round's recompiles (where the time goes).
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_spec  # noqa: E402

Edit = Callable[[dict[str, Any]], None]


def _subject(spec: dict[str, Any]) -> int:
    """The service the edits touch: one in the middle of the mesh, of the first tier (it calls the
    second; see synthetic.py), so that a call it gains keeps the graph acyclic."""
    n = len(spec["spec"]["services"])
    return n // 2 - (n // 2) % 4


def edit_timeout(spec: dict[str, Any]) -> None:
    spec["spec"]["services"][_subject(spec)]["traffic"]["routes"][1]["timeout"] = "6s"


def edit_call(spec: dict[str, Any]) -> None:
    services = spec["spec"]["services"]
    i = _subject(spec)
    # A second-tier service about a fifth of the mesh further on: another namespace at any size
    # from a few hundred services on.
    j = min(i + 1 + 4 * max(1, len(services) // 20), len(services) - 3)
    services[i]["calls"].append({"service": f"{services[j]['namespace']}/{services[j]['name']}"})


def routed(spec: dict[str, Any], i: int) -> bool:
    """Whether a gateway route sends to service i (synthetic.make_gateways)."""
    name = spec["spec"]["services"][i]["name"]
    return any(r["to"]["service"] == name for g in spec["spec"]["gateways"] for r in g["routes"])


def edit_timeout_near_routed(spec: dict[str, Any]) -> None:
    """The timeout edit, on a service no route sends to that calls one a gateway routes to: the
    callee is probed again (a neighbour of the edit), through its gateway."""
    services = spec["spec"]["services"]
    names = {s["name"]: k for k, s in enumerate(services)}
    i = next(
        k
        for k in range(_subject(spec), len(services), 4)
        if not routed(spec, k) and any(routed(spec, names[c["service"]]) for c in services[k]["calls"])
    )
    services[i]["traffic"]["routes"][1]["timeout"] = "6s"


def edit_call_routed(spec: dict[str, Any]) -> None:
    """A service no route sends to calls one a gateway routes to, in another namespace: the
    callee's policy changes, so its gateway's probes run again (the gateway's objects are lowered
    anew for them)."""
    services = spec["spec"]["services"]
    n = len(services)
    i = next(k for k in range(_subject(spec), n, 4) if not routed(spec, k))
    j = next(
        k
        for k in range(i + 1 + 4 * max(1, n // 20), n, 4)
        if routed(spec, k) and services[k]["namespace"] != services[i]["namespace"]
    )
    services[i]["calls"].append({"service": f"{services[j]['namespace']}/{services[j]['name']}"})


def edit_service(spec: dict[str, Any]) -> None:
    services = spec["spec"]["services"]
    i = _subject(spec)
    added = copy.deepcopy(services[i])
    added["name"] = "svc-added"
    for version in added["versions"]:
        version["image"] = version["image"].replace(services[i]["name"], "svc-added")
    services.insert(i + 1, added)


EDITS: dict[str, Edit] = {
    "timeout": edit_timeout,
    "timeout-near-routed": edit_timeout_near_routed,
    "call": edit_call,
    "call-routed": edit_call_routed,
    "service": edit_service,
}


def meshc(*args: str) -> list[str]:
    return [sys.executable, "-m", "meshc", *args]


def timed(command: list[str], cache: Path, stdout_to_null: bool = False) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system of the child and its children) of one command, and
    what it wrote to stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        command,
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL if stdout_to_null else None,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "MESHC_CACHE_DIR": str(cache)},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edits", default=",".join(EDITS), help=f"comma-separated, of: {', '.join(EDITS)}")
    parser.add_argument("--timings", action="store_true", help="meshc's breakdown of the last round")
    args = parser.parse_args()
    chosen = [e.strip() for e in args.edits.split(",") if e.strip()]
    unknown = [e for e in chosen if e not in EDITS]
    if unknown:
        parser.error(f"unknown edit {', '.join(unknown)}; choose from {', '.join(EDITS)}")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with tempfile.TemporaryDirectory(prefix="recompile-bench-") as tmp:
        work = Path(tmp)
        base = make_spec(args.services)
        texts = {"base": yaml.dump(base, Dumper=dumper, sort_keys=False)}
        for name in chosen:
            spec = copy.deepcopy(base)
            EDITS[name](spec)
            texts[name] = yaml.dump(spec, Dumper=dumper, sort_keys=False)
        live, out, cache = work / "mesh.yaml", work / "out", work / "cache"
        live.write_text(texts["base"])
        timed(meshc("compile", str(live), "-o", "-", "--no-cache"), cache, True)  # warms the start-up caches
        print(f"services={args.services} rounds={args.rounds} edits={','.join(chosen)}")
        figures: dict[str, list[tuple[float, float]]] = {}
        breakdown: dict[str, str] = {}
        for round_ in range(1, args.rounds + 1):
            live.write_text(texts["base"])
            wall, cpu, _ = timed(meshc("compile", str(live), "-o", "-", "--no-cache"), cache, True)
            figures.setdefault("stream", []).append((wall, cpu))
            print(f"  round {round_} {'stream':<19} wall={wall:6.2f}s cpu={cpu:6.2f}s", flush=True)
            for name in chosen:
                live.write_text(texts["base"])  # DIR and the cache as the unedited spec leaves them
                timed(meshc("compile", str(live), "-o", str(out)), cache)
                live.write_text(texts[name])
                wall, cpu, err = timed(meshc("compile", str(live), "-o", str(out), "--timings"), cache)
                figures.setdefault(name, []).append((wall, cpu))
                breakdown[name] = err
                print(f"  round {round_} {name:<19} wall={wall:6.2f}s cpu={cpu:6.2f}s", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        stream = figures["stream"]
        for name, runs in figures.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            line = (
                f"{name:<19} wall min={min(walls):.2f}s median={statistics.median(walls):.2f}s"
                f"  cpu min={min(cpus):.2f}s median={statistics.median(cpus):.2f}s"
            )
            if name != "stream":
                w = [x[0] / y[0] for x, y in zip(runs, stream, strict=True)]
                c = [x[1] / y[1] for x, y in zip(runs, stream, strict=True)]
                line += (
                    f"  / stream: wall {min(w):.2f}/{statistics.median(w):.2f}"
                    f" cpu {min(c):.2f}/{statistics.median(c):.2f}"
                )
            print(line)
        if args.timings:
            for name in chosen:
                print(f"--- {name} (last round, meshc --timings)")
                print("\n".join(line for line in breakdown[name].splitlines() if line.startswith("  ")))


if __name__ == "__main__":
    main()
