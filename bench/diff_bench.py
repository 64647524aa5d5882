"""Benchmark: `meshc diff` between two git revisions of a synthetic mesh of N services.

    python bench/diff_bench.py --services 5000

Builds a git repository in a temporary directory with two commits of `synthetic.make_spec(N)` (the
second changes a few services: a traffic shift, a new edge, retries, a removed restriction), then
times compiling both revisions from files on disk (A) and the whole diff from git (B: read both
revisions from the object store, compile both, intent + resource diff, Markdown with the Mermaid
picture). Prints `services=N compile_both_s=A diff_total_s=B ratio=B/A` and a breakdown. The target
is a ratio of at most about 2: the diff itself must cost little next to compiling.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import git
import yaml
from synthetic import make_spec

from meshc.compiler.pipeline import run
from meshc.compiler.review.gitsource import read_revision
from meshc.compiler.review.render import render_markdown
from meshc.compiler.review.report import compare

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def change(spec: dict[str, Any], n: int) -> dict[str, Any]:
    """A typical pull request: a handful of services touched."""
    services = spec["spec"]["services"]
    for i in (n // 10, n // 2, n - 40):
        svc = services[max(0, min(i, n - 1))]
        versions = [v["name"] for v in svc["versions"]]
        svc["traffic"]["split"] = {v: (100 if v == versions[-1] else 0) for v in versions}
    a, b = n // 3, n // 3 + 2
    if b < n:
        services[a]["calls"].append({"service": f"svc-{b:05d}", "methods": ["GET"]})
    services[n // 4]["traffic"]["retries"] = {"attempts": 3, "perTryTimeout": "1s", "retryOn": ["5xx"]}
    for call in services[n // 5]["calls"]:
        call.pop("methods", None)
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per side; the fastest counts (default 2)")
    args = parser.parse_args()
    n = args.services
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = git.Repo.init(root, initial_branch="main")
        with repo.config_writer() as cfg:
            cfg.set_value("user", "name", "bench")
            cfg.set_value("user", "email", "bench@example.com")
        spec_path = root / "mesh.yaml"
        spec = make_spec(n)
        spec_path.write_text(yaml.dump(spec, Dumper=_Dumper, sort_keys=False))
        base_copy = root / "base.yaml"
        base_copy.write_text(spec_path.read_text())
        repo.index.add(["mesh.yaml"])
        repo.index.commit("base")
        spec_path.write_text(yaml.dump(change(spec, n), Dumper=_Dumper, sort_keys=False))
        repo.index.add(["mesh.yaml"])
        repo.index.commit("head")

        compile_both = float("inf")
        diff_total = float("inf")
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            run(base_copy)
            run(spec_path)
            compile_both = min(compile_both, time.perf_counter() - start)

            start = time.perf_counter()
            base = read_revision(repo, "HEAD~1", "mesh.yaml")
            head = read_revision(repo, "HEAD", "mesh.yaml")
            t_read = time.perf_counter() - start
            report = compare("mesh.yaml", base, head)
            t_render = time.perf_counter()
            markdown = render_markdown(report)
            end = time.perf_counter()
            diff_total = min(diff_total, end - start)
    print(
        f"services={n} compile_both_s={compile_both:.2f} diff_total_s={diff_total:.2f} "
        f"ratio={diff_total / compile_both:.2f}"
    )
    print(f"  read from git    {t_read:7.3f}s")
    for stage, seconds in report.timings.items():
        print(f"  {stage:<16} {seconds:7.3f}s")
    print(f"  render markdown  {end - t_render:7.3f}s  ({len(markdown):,} characters)")
    print(
        f"  found: {len(report.intent.risks)} risks, {len(report.intent.changes)} changes, "
        f"{report.resources.total} resources changed, {report.resources.unchanged} unchanged"
    )


if __name__ == "__main__":
    main()
