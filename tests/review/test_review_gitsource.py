"""Reading specs from git: any ref, files and directories, and every way a ref or path can be wrong."""

from __future__ import annotations

import os
from pathlib import Path

import git
import pytest
from review_helpers import BOOKINFO, CANARY, NEW_EDGE, commit, make_repo, snapshot

from meshc.compiler.review.gitsource import (
    GitSourceError,
    head_commit,
    is_dirty,
    open_repo,
    read_revision,
    read_worktree,
    repo_relative,
    resolve,
)
from meshc.spec.loader import load_sources

SPLIT_A = "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: { name: split }\nspec:\n  services:\n"
SPLIT_B = "    - { name: a, ports: [{ port: 80, protocol: http }], calls: [{ service: b }] }\n"
SPLIT_C = "    - { name: b, ports: [{ port: 80, protocol: http }] }\n"


def test_several_commits_each_read_as_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    first = commit(repo, {"mesh.yaml": BOOKINFO}, "first")
    second = commit(repo, {"mesh.yaml": CANARY}, "second")
    third = commit(repo, {"mesh.yaml": NEW_EDGE}, "third")
    assert read_revision(repo, first, "mesh.yaml").sources == [(f"mesh.yaml@{first[:7]}", BOOKINFO.encode())]
    assert read_revision(repo, "HEAD~1", "mesh.yaml").sources == [("mesh.yaml@HEAD~1", CANARY.encode())]
    head = read_revision(repo, "main", "mesh.yaml")
    assert head.commit == third and head.label == f"main ({third[:7]})"
    assert head.sources == [("mesh.yaml@main", NEW_EDGE.encode())]
    assert resolve(repo, second[:10]) == second


def test_display_names_carry_the_ref_into_diagnostics(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"specs/mesh.yaml": "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: {}\nspec: [\n"})
    revision = read_revision(repo, "main", "specs/mesh.yaml")
    assert revision.sources is not None
    with pytest.raises(Exception) as info:
        load_sources(revision.sources)
    assert "specs/mesh.yaml@main:" in str(info.value)


def test_spec_directory_is_read_recursively_sorted_and_without_hidden_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(
        repo,
        {
            "mesh/00-mesh.yaml": SPLIT_A + SPLIT_B,
            "mesh/more/10-b.yml": "apiVersion: meshc.dev/v1alpha1\nkind: Mesh\nmetadata: { name: split }\n"
            "spec:\n  services:\n" + SPLIT_C,
            "mesh/.hidden/x.yaml": "not: a spec",
            "mesh/README.md": "# not a spec",
        },
    )
    revision = read_revision(repo, "main", "mesh")
    assert revision.sources is not None
    assert [name for name, _ in revision.sources] == ["mesh/00-mesh.yaml@main", "mesh/more/10-b.yml@main"]
    assert revision.relative_names == ["00-mesh.yaml", "more/10-b.yml"]
    loaded = load_sources(revision.sources)
    assert [s["name"] for s in loaded.data["spec"]["services"]] == ["a", "b"]
    on_disk = read_worktree(str(tmp_path / "mesh"))
    assert on_disk.digest() == revision.digest()


def test_ref_that_does_not_exist(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    with pytest.raises(GitSourceError, match="no-such-branch: no such commit, branch or tag"):
        read_revision(repo, "no-such-branch", "mesh.yaml")
    with pytest.raises(GitSourceError, match="fetch the base branch"):
        resolve(repo, "origin/main")
    with pytest.raises(GitSourceError, match="not a valid git revision"):
        resolve(repo, "--output=/tmp/x")


def test_path_missing_at_the_ref_is_an_absent_spec(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README.md": "hello"})
    revision = read_revision(repo, "main", "mesh.yaml")
    assert not revision.exists and revision.digest() is None


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (tmp_path / "mesh.yaml").write_text(BOOKINFO)
    with pytest.raises(GitSourceError, match="has no commits yet"):
        read_revision(repo, "main", "mesh.yaml")
    assert head_commit(repo) is None
    assert is_dirty(repo, "mesh.yaml")


def test_bare_repository_reads_refs(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work")
    sha = commit(work, {"mesh/mesh.yaml": BOOKINFO})
    bare = git.Repo.clone_from(str(tmp_path / "work"), str(tmp_path / "bare.git"), bare=True)
    repo = open_repo("mesh/mesh.yaml", tmp_path / "bare.git")
    assert repo.bare
    assert repo_relative(repo, "mesh/mesh.yaml") == "mesh/mesh.yaml"
    revision = read_revision(repo, "main", "mesh/mesh.yaml")
    assert revision.commit == sha and revision.sources == [("mesh/mesh.yaml@main", BOOKINFO.encode())]
    assert bare.bare


def test_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(BOOKINFO)
    with pytest.raises(GitSourceError, match="not inside a git repository"):
        open_repo(tmp_path / "mesh.yaml")
    with pytest.raises(GitSourceError, match="no such directory"):
        open_repo("mesh.yaml", tmp_path / "nowhere")


def test_repo_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"a/b/mesh.yaml": BOOKINFO})
    assert repo_relative(repo, tmp_path / "a" / "b" / "mesh.yaml") == "a/b/mesh.yaml"
    monkeypatch.chdir(tmp_path / "a")
    assert repo_relative(repo, "b/mesh.yaml") == "a/b/mesh.yaml"
    assert repo_relative(repo, "b/gone.yaml") == "a/b/gone.yaml"  # deleted in the working tree
    with pytest.raises(GitSourceError, match="outside the repository"):
        repo_relative(repo, str(tmp_path.parent / "elsewhere.yaml"))


def test_open_repo_finds_the_repository_of_a_deleted_spec(tmp_path: Path) -> None:
    make_repo(tmp_path)
    repo = open_repo(tmp_path / "gone" / "deeper" / "mesh.yaml")
    assert Path(repo.working_tree_dir or "").resolve() == tmp_path.resolve()


def test_symlinked_spec_is_read_through_its_target(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "mesh.yaml").write_text(BOOKINFO)
    os.symlink("real/mesh.yaml", tmp_path / "mesh.yaml")
    commit(repo, {})
    revision = read_revision(repo, "main", "mesh.yaml")
    assert revision.sources == [("mesh.yaml@main", BOOKINFO.encode())]


def test_lfs_pointer_is_reported(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n"})
    with pytest.raises(GitSourceError, match="Git LFS pointer"):
        read_revision(repo, "main", "mesh.yaml")


def test_reading_never_touches_the_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    commit(repo, {"mesh.yaml": CANARY})
    (tmp_path / "mesh.yaml").write_text(NEW_EDGE)  # uncommitted work
    (tmp_path / "notes.txt").write_text("untracked")
    before = snapshot(repo)
    read_revision(repo, "HEAD~1", "mesh.yaml")
    read_revision(repo, "main", "mesh.yaml")
    assert is_dirty(repo, "mesh.yaml")
    assert not is_dirty(repo, "other.yaml")
    worktree = read_worktree(str(tmp_path / "mesh.yaml"))
    assert worktree.sources is not None and worktree.sources[0][1] == NEW_EDGE.encode()
    assert snapshot(repo) == before
