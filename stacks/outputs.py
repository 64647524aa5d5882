"""The stack outputs, computed from the deployed manifests and the spec. Plain Python.

- `ingressHosts`: per cluster, the hosts its ingress Gateways serve (east-west and egress gateways
  are not ingress);
- `resourceCounts`: registered Kubernetes resources per kind;
- `specDigest`: `sha256:<hex>` over the spec's files in sorted path order (each file framed by its
  path relative to the spec and its length, as `meshc review` digests a revision);
- `specCommit` / `specDirty`: the git commit (HEAD) of the repository holding the spec, and whether
  the spec differs from it; both absent when the spec is not in a git repository;
- `destinationRuleSubsets`: the subsets of every DestinationRule, read back by the next deployment
  for make-before-break ordering (see `ordering`).

Nothing here depends on time or on the machine, so an unchanged spec gives unchanged outputs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from meshc.compiler.manifest import Manifest
from meshc.spec.loader import spec_files


def spec_digest(spec: Path) -> str:
    h = hashlib.sha256()
    for file_path, _ in spec_files(spec, str(spec)):
        name = file_path.relative_to(spec).as_posix() if spec.is_dir() else spec.name
        data = file_path.read_bytes()
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return f"sha256:{h.hexdigest()}"


def spec_git(spec: Path) -> dict[str, object] | None:
    """{"commit": sha, "dirty": bool} for a spec inside a git work tree with commits, else None."""
    try:
        import git
    except ImportError:  # pragma: no cover - GitPython is a dependency; git itself may be missing
        return None
    try:
        repo = git.Repo(spec if spec.is_dir() else spec.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandNotFound):
        return None
    try:
        if repo.bare or not repo.head.is_valid():
            return None
        commit = repo.head.commit.hexsha
        top = Path(str(repo.working_tree_dir)).resolve()
        relative = spec.resolve().relative_to(top).as_posix()
        # GIT_OPTIONAL_LOCKS=0: `status` must not refresh (write) the index of the user's repository.
        status = repo.git.status(
            "--porcelain", "--untracked-files=all", "--", relative or ".", env={"GIT_OPTIONAL_LOCKS": "0"}
        )
    except (git.GitCommandError, git.GitCommandNotFound, ValueError, OSError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def ingress_hosts(
    manifests: Iterable[Manifest], clusters: Iterable[str], cluster_of: dict[str | None, str]
) -> dict[str, list[str]]:
    hosts: dict[str, set[str]] = {name: set() for name in clusters}
    for m in manifests:
        if m.kind != "Gateway" or not (m.owner or "").startswith("gateway/"):
            continue
        for server in m.body.get("spec", {}).get("servers") or []:
            # A Gateway host may carry a namespace filter (`ns/host`); the host is what clients use.
            hosts[cluster_of[m.cluster]].update(
                h.rsplit("/", 1)[-1] for h in server.get("hosts") or [] if isinstance(h, str)
            )
    return {name: sorted(found) for name, found in sorted(hosts.items())}


def resource_counts(manifests: Iterable[Manifest]) -> dict[str, int]:
    return dict(sorted(Counter(m.kind for m in manifests).items()))
