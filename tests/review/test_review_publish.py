"""`meshc publish`: rendered manifests committed to a branch with plumbing, one commit per change."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from review_helpers import BOOKINFO, CANARY, commit, make_repo, meshc, no_traceback, snapshot

from meshc.compiler.emit import dump, relative_path
from meshc.compiler.pipeline import run
from meshc.compiler.review.publish import (
    Provenance,
    PublishConflict,
    PublishError,
    TreeBuilder,
    commit_message,
    manifest_files,
    publish,
)
from meshc.spec.loader import load_sources

BRANCH = "rendered/prod"


def files_of(text: str) -> dict[str, bytes]:
    return manifest_files(run("mesh.yaml", loaded=load_sources([("mesh.yaml", text.encode())])).manifests)


def branch_files(repo: git.Repo, branch: str = BRANCH) -> dict[str, bytes]:
    tree = repo.commit(branch).tree
    return {b.path: b.data_stream.read() for b in tree.traverse() if b.type == "blob"}  # type: ignore[union-attr]


def count(repo: git.Repo, branch: str = BRANCH) -> int:
    return int(repo.git.rev_list("--count", branch))


def test_tree_ids_match_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    files = {"b/x.yaml": b"x: 1\n", "a.yaml": b"a: 1\n", "b.yaml": b"b\n", "b-c/y.yaml": b"y\n"}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    repo.git.add("-A")
    assert TreeBuilder(files).root == repo.git.write_tree()


def test_layout_is_the_compile_layout() -> None:
    manifests = run("mesh.yaml", loaded=load_sources([("mesh.yaml", BOOKINFO.encode())])).manifests
    files = manifest_files(manifests)
    assert list(files) == [relative_path(m) for m in manifests]
    assert (
        files["bookinfo/virtualservice-reviews.yaml"]
        == dump(
            next(m.body for m in manifests if m.kind == "VirtualService" and m.name == "reviews")
        ).encode()
    )


def test_first_publish_creates_the_branch_then_identical_publish_is_a_no_op(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "scratch.txt").write_text("uncommitted work")
    before = snapshot(repo)
    first = publish(repo, BRANCH, files_of(BOOKINFO), "render 1\n")
    assert first.changed and first.created and first.parent is None
    assert first.added == 34 and first.modified == first.removed == 0
    assert branch_files(repo) == files_of(BOOKINFO)
    second = publish(repo, BRANCH, files_of(BOOKINFO), "render 2\n")
    assert not second.changed and second.commit == first.commit
    assert count(repo) == 1
    assert snapshot(repo) == before


def test_a_change_makes_exactly_one_commit_naming_the_source(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    source = commit(repo, {"mesh.yaml": BOOKINFO})
    publish(repo, BRANCH, files_of(BOOKINFO), "first\n")
    provenance = Provenance("mesh.yaml", "sha256:abc", source, dirty=False)
    message = commit_message(provenance, 34)
    result = publish(repo, BRANCH, files_of(CANARY), message)
    assert result.changed and not result.created
    assert (result.added, result.modified, result.removed) == (0, 1, 0)
    assert count(repo) == 2
    tip = repo.commit(BRANCH)
    assert tip.parents[0].hexsha == result.parent
    assert f"Source-Commit: {source}" in tip.message and "Source-Dirty: false" in tip.message
    assert tip.message.startswith(f"meshc: render mesh.yaml at {source[:12]}")
    changed = repo.git.diff("--name-only", f"{BRANCH}~1", BRANCH).split()
    assert changed == ["bookinfo/virtualservice-reviews.yaml"]


def test_removed_resources_are_removed_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    publish(repo, BRANCH, {"a/one.yaml": b"1\n", "a/two.yaml": b"2\n", "b/three.yaml": b"3\n"}, "m\n")
    result = publish(repo, BRANCH, {"a/one.yaml": b"1\n"}, "m\n")
    assert (result.added, result.modified, result.removed) == (0, 0, 2)
    assert branch_files(repo) == {"a/one.yaml": b"1\n"}


def test_lost_race_is_retried_on_the_new_tip(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    publish(repo, BRANCH, {"a.yaml": b"1\n"}, "first\n")
    moved: list[str] = []

    def interloper(attempt: int) -> None:
        if attempt == 1:  # another publisher wins between our read of the tip and our update
            other = publish(repo, BRANCH, {"a.yaml": b"2\n"}, "other\n")
            moved.append(other.commit)

    result = publish(repo, BRANCH, {"a.yaml": b"3\n"}, "ours\n", before_update=interloper)
    assert result.attempts == 2 and result.parent == moved[0]
    assert [c.message for c in repo.iter_commits(BRANCH)] == ["ours\n", "other\n", "first\n"]
    assert branch_files(repo) == {"a.yaml": b"3\n"}


def test_lost_race_to_identical_content_makes_no_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})

    def same(attempt: int) -> None:
        if attempt == 1:
            publish(repo, BRANCH, {"a.yaml": b"1\n"}, "the other run\n")

    result = publish(repo, BRANCH, {"a.yaml": b"1\n"}, "ours\n", before_update=same)
    assert not result.changed and result.attempts == 2
    assert count(repo) == 1 and repo.commit(BRANCH).message == "the other run\n"


def test_endless_race_fails_clearly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    n = {"i": 0}

    def always(attempt: int) -> None:
        n["i"] += 1
        publish(repo, BRANCH, {"a.yaml": str(n["i"]).encode()}, "other\n")

    with pytest.raises(PublishConflict, match="moved during each of 3 attempts"):
        publish(repo, BRANCH, {"a.yaml": b"mine\n"}, "ours\n", retries=2, before_update=always)
    assert "ours\n" not in [c.message for c in repo.iter_commits(BRANCH)]


def test_refuses_the_checked_out_branch_and_bad_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    with pytest.raises(PublishError, match="checked out"):
        publish(repo, "main", {"a.yaml": b"1\n"}, "m\n")
    with pytest.raises(PublishError, match="not a valid branch name"):
        publish(repo, "bad..name", {"a.yaml": b"1\n"}, "m\n")
    empty = make_repo(tmp_path / "empty")
    with pytest.raises(PublishError, match="checked out"):  # the unborn branch HEAD names
        publish(empty, "main", {"a.yaml": b"1\n"}, "m\n")


def test_publish_into_a_bare_repository_and_an_empty_one(tmp_path: Path) -> None:
    bare = make_repo(tmp_path / "bare.git", bare=True)
    result = publish(bare, BRANCH, {"a/b.yaml": b"1\n"}, "m\n")
    assert result.created and branch_files(bare) == {"a/b.yaml": b"1\n"}
    empty = make_repo(tmp_path / "empty")
    publish(empty, BRANCH, {"a.yaml": b"1\n"}, "m\n")
    assert not empty.head.is_valid()  # HEAD still names the unborn main
    assert empty.git.status("--porcelain") == ""


NOT_CI = {"CI": ""}
"""Outside CI a dirty spec is published (marked dirty); these tests pass under CI=true too."""


# --- through the CLI -------------------------------------------------------------------------------


def test_cli_publish_names_the_source_commit_and_dirty_state(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    source = commit(repo, {"deploy/mesh.yaml": BOOKINFO})
    before = snapshot(repo)
    first = meshc("publish", "deploy/mesh.yaml", "--branch", BRANCH, "--format", "json", cwd=tmp_path)
    no_traceback(first)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["changed"] and data["created"] and data["sourceCommit"] == source and data["dirty"] is False
    assert data["specDigest"].startswith("sha256:") and data["resources"] == 34
    message = repo.commit(BRANCH).message
    assert f"Source-Commit: {source}" in message and f"Spec-Digest: {data['specDigest']}" in message
    assert snapshot(repo) == before

    again = meshc("publish", "deploy/mesh.yaml", "--branch", BRANCH, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stderr and "no commit made" in again.stderr
    assert count(repo) == 1

    (tmp_path / "deploy" / "mesh.yaml").write_text(CANARY)  # uncommitted change
    before = snapshot(repo)
    dirty = meshc("publish", "deploy/mesh.yaml", "--branch", BRANCH, cwd=tmp_path, env=NOT_CI)
    assert dirty.returncode == 0, dirty.stderr
    assert "updated rendered/prod" in dirty.stderr and "1 modified" in dirty.stderr
    tip = repo.commit(BRANCH)
    assert "Source-Dirty: true" in tip.message and f"{source[:12]} (dirty)" in tip.message
    assert count(repo) == 2
    assert snapshot(repo) == before


def test_cli_publish_from_a_ref_to_another_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    first = commit(repo, {"mesh.yaml": BOOKINFO})
    commit(repo, {"mesh.yaml": CANARY})
    make_repo(tmp_path / "deploy.git", bare=True)
    result = meshc(
        "publish",
        "mesh.yaml",
        "--branch",
        "rendered/staging",
        "--ref",
        "HEAD~1",
        "--repo",
        str(tmp_path / "deploy.git"),
        "-m",
        "staging render",
        cwd=tmp_path / "src",
    )
    assert result.returncode == 0, result.stderr
    deploy = git.Repo(tmp_path / "deploy.git")
    tip = deploy.commit("rendered/staging")
    assert tip.message.startswith("staging render\n") and f"Source-Commit: {first}" in tip.message
    assert b"weight: 50" in branch_files(deploy, "rendered/staging")["bookinfo/virtualservice-reviews.yaml"]


def test_cli_publish_errors(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    checked_out = meshc("publish", "mesh.yaml", "--branch", "main", cwd=tmp_path)
    no_traceback(checked_out)
    assert checked_out.returncode == 2 and "checked out" in checked_out.stderr
    (tmp_path / "mesh.yaml").write_text(BOOKINFO.replace("ratings, methods", "ratingz, methods"))
    invalid = meshc("publish", "mesh.yaml", "--branch", BRANCH, cwd=tmp_path, env=NOT_CI)
    assert invalid.returncode == 1 and "MC101" in invalid.stderr
    assert "rendered/prod" not in [h.name for h in repo.heads]
    missing = meshc("publish", "nope.yaml", "--branch", BRANCH, cwd=tmp_path)
    assert missing.returncode == 2
    bad_ref = meshc("publish", "mesh.yaml", "--branch", BRANCH, "--ref", "nope", cwd=tmp_path)
    assert bad_ref.returncode == 2 and "no such commit" in bad_ref.stderr


# --- in CI a dirty working tree is refused (issue 18) -------------------------------------------------


def test_cli_publish_in_ci_refuses_a_dirty_spec_naming_the_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"deploy/mesh.yaml": BOOKINFO, "README.md": "hello\n"})
    (tmp_path / "deploy" / "mesh.yaml").write_text(CANARY)
    for n in range(5):
        (tmp_path / "deploy" / f"notes-{n}.txt").write_text("scratch\n")
    before = snapshot(repo)
    refused = meshc("publish", "deploy", "--branch", BRANCH, cwd=tmp_path, env={"CI": "true"})
    no_traceback(refused)
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "deploy/mesh.yaml" in lines[0] and "deploy/notes-0.txt" in lines[0]
    assert "and 3 more" in lines[0] and "deploy/notes-4.txt" not in lines[0]
    assert "--allow-dirty" in lines[0]
    assert BRANCH not in [h.name for h in repo.heads]
    assert snapshot(repo) == before

    allowed = meshc(
        "publish", "deploy", "--branch", BRANCH, "--allow-dirty", cwd=tmp_path, env={"CI": "true"}
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "Source-Dirty: true" in repo.commit(BRANCH).message


def test_cli_publish_in_ci_accepts_a_clean_spec_and_a_committed_ref(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "unrelated.txt").write_text("not part of the spec\n")  # a build artefact, say
    clean = meshc("publish", "mesh.yaml", "--branch", BRANCH, cwd=tmp_path, env={"CI": "true"})
    assert clean.returncode == 0, clean.stderr
    (tmp_path / "mesh.yaml").write_text(CANARY)
    committed = meshc(
        "publish", "mesh.yaml", "--branch", BRANCH, "--ref", "HEAD", cwd=tmp_path, env={"CI": "true"}
    )
    assert committed.returncode == 0, committed.stderr
    assert "Source-Dirty: false" in repo.commit(BRANCH).message


def test_cli_publish_outside_ci_still_publishes_a_dirty_spec(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"mesh.yaml": BOOKINFO})
    (tmp_path / "mesh.yaml").write_text(CANARY)
    result = meshc("publish", "mesh.yaml", "--branch", BRANCH, cwd=tmp_path, env=NOT_CI)
    assert result.returncode == 0, result.stderr
    assert "Source-Dirty: true" in repo.commit(BRANCH).message


# -- issue 13, defect 10 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["@", "refs/heads/@", "HEAD", "-x", "a/.b", "a.lock", "a@{1}", "a b", "a\\b"]
)
def test_branch_names_git_refuses_are_refused(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    with pytest.raises(PublishError, match="not a valid branch name"):
        publish(repo, name, {"a.yaml": b"1\n"}, "m\n")
    assert [r.path for r in repo.references if "@" in r.path or "HEAD" in r.path.split("/")[2:]] == []


def test_a_full_ref_name_is_normalised_to_its_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    result = publish(repo, "refs/heads/rendered/x", {"a.yaml": b"1\n"}, "m\n")
    assert result.branch == "rendered/x"
    assert sorted(r.path for r in repo.references if "rendered" in r.path) == ["refs/heads/rendered/x"]


def test_racing_publishes_each_succeed_or_say_another_publish_won(tmp_path: Path) -> None:
    import threading

    repo = make_repo(tmp_path)
    commit(repo, {"README": "x"})
    outcomes: list[str] = []

    def one(i: int) -> None:
        try:
            publish(git.Repo(repo.git_dir), BRANCH, {"a.yaml": f"{i}\n".encode()}, f"run {i}\n", retries=1)
            outcomes.append("published")
        except PublishConflict as exc:
            assert "another publish" in str(exc), exc
            outcomes.append("lost")
        except Exception as exc:  # the misleading "exists but does not point at a commit"
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"lost", "published"}, outcomes
    published = outcomes.count("published")
    assert published >= 1 and count(repo) == published
