"""Helpers for the review tests: real git repositories in temporary directories.

Commits are made with a fixed identity and fixed dates, so that a commit's id depends only on its
content and parents (golden files can name them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import git

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"
BOOKINFO = (DATA / "bookinfo.yaml").read_text(encoding="utf-8")

IDENTITY = {
    "GIT_AUTHOR_NAME": "Reviewer",
    "GIT_AUTHOR_EMAIL": "reviewer@example.com",
    "GIT_COMMITTER_NAME": "Reviewer",
    "GIT_COMMITTER_EMAIL": "reviewer@example.com",
}


def make_repo(path: Path, *, bare: bool = False) -> git.Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, bare=bare, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Reviewer")
        cfg.set_value("user", "email", "reviewer@example.com")
        cfg.set_value("commit", "gpgsign", "false")
    return repo


_clock = {"n": 0}


def commit(repo: git.Repo, files: dict[str, str | bytes | None], message: str = "change") -> str:
    """Write (or with None, delete) files, stage everything and commit; returns the commit id."""
    top = Path(repo.working_tree_dir or "")
    for name, content in files.items():
        path = top / name
        if content is None:
            if path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    repo.git.add("-A")
    _clock["n"] += 1
    when = f"2024-01-01T00:{_clock['n'] % 60:02d}:00+0000"
    repo.git.commit(
        "-m", message, "--allow-empty", env={**IDENTITY, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    )
    return repo.head.commit.hexsha


def snapshot(repo: git.Repo) -> tuple[str, str, str, bytes]:
    """What the user sees of their checkout: HEAD, the branch, `git status`, and the index file."""
    index = Path(repo.git_dir) / "index"
    return (
        repo.head.commit.hexsha if repo.head.is_valid() else "",
        repo.git.symbolic_ref("-q", "HEAD", with_exceptions=False),
        repo.git.status("--porcelain", "--untracked-files=all"),
        index.read_bytes() if index.exists() else b"",
    )


def meshc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "meshc", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=300,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr


def normalize(text: str, repo: git.Repo) -> str:
    """Replace the repository's commit ids in a report by stable names (`<main>`, `<HEAD>`)."""
    names = {}
    for ref in repo.refs:
        names[ref.commit.hexsha] = f"<{ref.name}>"
    out = text
    for sha, name in names.items():
        out = out.replace(sha, name).replace(sha[:12], name).replace(sha[:7], name)
    return re.sub(r"\n{3,}", "\n\n", out)


# --- bookinfo variations -----------------------------------------------------------------------------

CANARY = BOOKINFO.replace("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 0, v2: 0, v3: 100 }")
NEW_EDGE = BOOKINFO.replace(
    "        - { name: v2 }\n\n    - name: reviews",
    "        - { name: v2 }\n      calls:\n"
    '        - { service: ratings, methods: [GET], paths: ["/ratings/*"] }\n\n'
    "    - name: reviews",
)
MTLS_RELAXED = BOOKINFO.replace(
    "  security:\n    mtls: STRICT\n",
    "  security:\n    mtls: STRICT\n  namespaces:\n    - { name: bookinfo, mtls: PERMISSIVE }\n",
)
PUBLIC_ROUTE = BOOKINFO + (
    "        - name: ratings-api\n"
    "          match: [{ path: { prefix: /ratings } }]\n"
    "          to: { service: ratings, port: 9080 }\n"
)
INVALID = BOOKINFO.replace("- { service: ratings, methods: [GET]", "- { service: ratingz, methods: [GET]")

for _variant in (CANARY, NEW_EDGE, MTLS_RELAXED, PUBLIC_ROUTE, INVALID):
    assert _variant != BOOKINFO
