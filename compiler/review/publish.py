"""Commit compiled manifests to a branch with git plumbing (the rendered-manifests pattern).

The tree is built in memory: blob and tree ids are computed here, the objects the branch tip does
not already have are written as one pack (`git index-pack --stdin`), a commit object is made with
`git commit-tree`, and the branch is moved with a compare-and-swap `git update-ref <ref> <new> <old>`.
The working tree, the index and HEAD are never read or written, so publishing is safe from any
checkout, in a bare repository, and next to a user's uncommitted work.

One commit per real change: when the new tree equals the tip's tree nothing is written. Two runs
racing for the branch cannot both win the compare-and-swap; the loser re-reads the tip and tries
again (a few times), finding either that its content is already there or a new parent to build on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import git

from ..emit import dump, relative_path
from ..manifest import Manifest

ZERO = "0" * 40
FILE_MODE = b"100644"
TREE_MODE = b"40000"
_TYPE_CODES = {b"commit": 1, b"tree": 2, b"blob": 3}
DEFAULT_IDENTITY = {"name": "meshc", "email": "meshc@localhost"}


class PublishError(Exception):
    """The branch cannot be published (usage or environment, exit 2); the message says why."""


class PublishConflict(PublishError):
    """Other runs kept moving the branch while this one tried to update it."""


@dataclass(slots=True)
class Provenance:
    spec_path: str
    spec_digest: str
    source_commit: str | None
    dirty: bool

    def trailers(self) -> list[str]:
        return [
            f"Source-Commit: {self.source_commit or 'none'}",
            f"Source-Dirty: {'true' if self.dirty else 'false'}",
            f"Spec-Path: {self.spec_path}",
            f"Spec-Digest: {self.spec_digest}",
        ]

    def describe(self) -> str:
        commit = self.source_commit[:12] if self.source_commit else "no commit"
        return f"{commit}{' (dirty)' if self.dirty else ''}"


@dataclass(slots=True)
class PublishResult:
    branch: str
    commit: str
    """The branch tip after publishing (the new commit, or the unchanged tip)."""
    parent: str | None
    changed: bool
    created: bool
    added: int = 0
    modified: int = 0
    removed: int = 0
    attempts: int = 1
    resources: int = 0
    provenance: Provenance | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        p = self.provenance
        return {
            "branch": self.branch,
            "commit": self.commit,
            "parent": self.parent,
            "changed": self.changed,
            "created": self.created,
            "files": {"added": self.added, "modified": self.modified, "removed": self.removed},
            "resources": self.resources,
            "attempts": self.attempts,
            "sourceCommit": p.source_commit if p else None,
            "dirty": p.dirty if p else None,
            "specPath": p.spec_path if p else None,
            "specDigest": p.spec_digest if p else None,
        }


@dataclass(slots=True)
class _Tree:
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: dict[str, _Tree] = field(default_factory=dict)


def _clean_env() -> dict[str, str]:
    """The environment without variables that would point git at the user's index or working tree
    (set, for instance, when meshc runs inside a git hook)."""
    drop = {"GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_DIR", "GIT_PREFIX"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _object_id(kind: bytes, data: bytes) -> bytes:
    return hashlib.sha1(kind + b" " + str(len(data)).encode() + b"\0" + data).digest()


class TreeBuilder:
    """Blobs and trees of a set of files, hashed in memory (nothing is written here)."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.objects: dict[bytes, tuple[bytes, bytes]] = {}
        self.paths: dict[str, str] = {}
        """File path -> blob id (hex), to count what changed."""
        root = _Tree()
        for path, data in files.items():
            node = root
            *folders, name = path.split("/")
            for folder in folders:
                node = node.dirs.setdefault(folder, _Tree())
            node.files[name] = data
        self.root = self._write(root, "").hex()

    def _store(self, kind: bytes, data: bytes) -> bytes:
        oid = _object_id(kind, data)
        self.objects.setdefault(oid, (kind, data))
        return oid

    def _write(self, tree: _Tree, prefix: str) -> bytes:
        entries: list[tuple[bytes, bytes, bytes]] = []
        for name, data in tree.files.items():
            oid = self._store(b"blob", data)
            self.paths[prefix + name] = oid.hex()
            entries.append((name.encode(), FILE_MODE, oid))
        for name, sub in tree.dirs.items():
            oid = self._write(sub, f"{prefix}{name}/")
            entries.append((name.encode(), TREE_MODE, oid))
        # git orders tree entries by name, a folder as if its name ended with "/"
        entries.sort(key=lambda e: e[0] + (b"/" if e[1] == TREE_MODE else b""))
        body = b"".join(mode + b" " + name + b"\0" + oid for name, mode, oid in entries)
        return self._store(b"tree", body)


def manifest_files(manifests: list[Manifest]) -> dict[str, bytes]:
    """The layout of `meshc compile -o DIR` (`emit.relative_path`), as bytes per path."""
    return {relative_path(m): dump(m.body).encode("utf-8") for m in manifests}


def _pack(objects: list[tuple[bytes, bytes]]) -> bytes:
    """A version-2 pack of whole (undeltified) objects."""
    out = [b"PACK", struct.pack(">II", 2, len(objects))]
    for kind, data in objects:
        size = len(data)
        byte = (_TYPE_CODES[kind] << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        out.append(bytes(header))
        out.append(zlib.compress(data, 1))
    body = b"".join(out)
    return body + hashlib.sha1(body).digest()


class Publisher:
    def __init__(self, repo: git.Repo, branch: str) -> None:
        self.repo = repo
        self.branch = branch.removeprefix("refs/heads/")  # `refs/heads/x` means the branch `x`
        self.ref = f"refs/heads/{self.branch}"
        self._check_branch()

    def _git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        try:
            result = subprocess.run(
                ["git", *args],
                cwd=self.repo.git_dir,
                input=input,
                capture_output=True,
                env={**_clean_env(), "GIT_DIR": self.repo.git_dir, **(env or {})},
                check=False,
            )
        except FileNotFoundError:
            raise PublishError(
                "git is not installed (or not on PATH); install it, e.g. `apt-get install git`"
            ) from None
        if result.returncode != 0:
            raise git.GitCommandError(["git", *args], result.returncode, result.stderr)
        return result.stdout.decode("utf-8", "replace")

    def _check_branch(self) -> None:
        """git's own rules for a branch name (`git check-ref-format --branch`, as `git branch` uses
        them); a name git would read as something else (`@` is HEAD, `@{-1}` the previous branch,
        `refs/...` a full ref) is refused rather than created literally."""
        name = self.branch
        if name.startswith("refs/"):
            raise PublishError(
                f"{name!r} is not a valid branch name: give a branch (rendered/prod) or refs/heads/<branch>"
            )
        try:
            expanded = self._git("check-ref-format", "--branch", name).strip()
        except git.GitCommandError:
            raise PublishError(
                f"{name!r} is not a valid branch name (see `git help check-ref-format`)"
            ) from None
        if expanded != name or name.startswith("-") or "@" in name.split("/"):
            raise PublishError(
                f"{name!r} is not a valid branch name: git reads it as {expanded!r}"
                if expanded != name
                else f"{name!r} is not a valid branch name"
            )
        try:
            object_format = self._git("rev-parse", "--show-object-format").strip()
        except git.GitCommandError:
            object_format = "sha1"
        if object_format not in ("sha1", ""):
            raise PublishError(
                f"{self.repo.git_dir}: {object_format} repositories are not supported by publish"
            )
        checked_out = set()
        try:
            listing = self._git("worktree", "list", "--porcelain")
            checked_out = {line[7:] for line in listing.splitlines() if line.startswith("branch ")}
        except git.GitCommandError:
            pass
        if not self.repo.bare:
            with contextlib.suppress(TypeError):  # a detached HEAD has no branch
                checked_out.add(self.repo.head.reference.path)
        if self.ref in checked_out:
            raise PublishError(
                f"{self.branch} is checked out in a working tree; publishing to it would change files under "
                "the user's feet. Publish to a branch that is not checked out (e.g. rendered/<env>)"
            )

    def tip(self) -> str | None:
        """The branch's commit, None when the branch does not exist yet.

        While another publish moves the branch, git can briefly fail to resolve it (the ref already
        names a commit whose pack this process has not seen yet): that is read again, and only a
        ref that stays unreadable is an error.
        """
        for delay in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8):
            time.sleep(delay)
            try:
                return self._git("rev-parse", "--verify", "--quiet", f"{self.ref}^{{commit}}").strip() or None
            except git.GitCommandError:
                if not self._git_ok("show-ref", "--verify", "--quiet", self.ref):
                    return None
        raise PublishError(f"{self.ref} exists but does not point at a commit")

    def _git_ok(self, *args: str) -> bool:
        try:
            self._git(*args)
            return True
        except git.GitCommandError:
            return False

    def tip_contents(self, tip: str | None) -> tuple[str | None, dict[str, str], set[str]]:
        """The tip's root tree, its file -> blob map, and every object id in its tree."""
        if tip is None:
            return None, {}, set()
        root = self._git("rev-parse", f"{tip}^{{tree}}").strip()
        files: dict[str, str] = {}
        ids = {root}
        listing = self._git("ls-tree", "-r", "-t", "--full-tree", "-z", tip)
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            _, kind, oid = meta.split(" ")
            ids.add(oid)
            if kind == "blob":
                files[path] = oid
        return root, files, ids

    def write_objects(self, objects: list[tuple[bytes, bytes]]) -> None:
        if objects:
            self._git("index-pack", "--stdin", input=_pack(objects))

    def commit_tree(self, tree: str, parent: str | None, message: str) -> str:
        args = ["commit-tree", tree]
        if parent:
            args += ["-p", parent]
        return self._git(*args, "-F", "-", input=message.encode("utf-8"), env=self._identity()).strip()

    def _identity(self) -> dict[str, str]:
        """Fall back to a meshc identity where git has none (a fresh CI runner)."""
        env: dict[str, str] = {}
        reader = self.repo.config_reader()
        for role in ("AUTHOR", "COMMITTER"):
            for part in ("name", "email"):
                var = f"GIT_{role}_{part.upper()}"
                if var in os.environ:
                    continue
                if not reader.get_value("user", part, ""):
                    env[var] = DEFAULT_IDENTITY[part]
        return env

    def update(self, new: str, old: str | None) -> bool:
        """Compare-and-swap the branch from `old` (None: must not exist) to `new`."""
        try:
            self._git("update-ref", "-m", "meshc publish", self.ref, new, old or ZERO)
            return True
        except git.GitCommandError:
            return False


def publish(
    repo: git.Repo,
    branch: str,
    files: Mapping[str, bytes],
    message: str,
    *,
    retries: int = 5,
    before_update: Callable[[int], None] | None = None,
) -> PublishResult:
    """Make the branch hold exactly `files`, with one new commit if (and only if) that changes it.

    `before_update(attempt)` runs just before each compare-and-swap (tests use it to lose a race).
    """
    publisher = Publisher(repo, branch)
    built = TreeBuilder(files)
    attempts = 0
    while True:
        attempts += 1
        tip = publisher.tip()
        tip_tree, tip_files, known = publisher.tip_contents(tip)
        if tip is not None and tip_tree == built.root:
            return PublishResult(publisher.branch, tip, tip, changed=False, created=False, attempts=attempts)
        publisher.write_objects([obj for oid, obj in built.objects.items() if oid.hex() not in known])
        commit = publisher.commit_tree(built.root, tip, message)
        if before_update is not None:
            before_update(attempts)
        if publisher.update(commit, tip):
            added = sum(1 for p in built.paths if p not in tip_files)
            modified = sum(1 for p, oid in built.paths.items() if p in tip_files and tip_files[p] != oid)
            removed = sum(1 for p in tip_files if p not in built.paths)
            return PublishResult(
                publisher.branch,
                commit,
                tip,
                changed=True,
                created=tip is None,
                added=added,
                modified=modified,
                removed=removed,
                attempts=attempts,
                message=message,
            )
        if attempts > retries:
            raise PublishConflict(
                f"{publisher.branch}: the branch moved during each of {attempts} attempts: another publish "
                "won each race for it; nothing was changed by this run (run it again to publish on top)"
            )


def commit_message(provenance: Provenance, resources: int, subject: str | None = None) -> str:
    first = subject or f"meshc: render {provenance.spec_path} at {provenance.describe()}"
    body = f"{resources} resources compiled by meshc from {provenance.spec_path}."
    return f"{first.rstrip()}\n\n{body}\n\n" + "\n".join(provenance.trailers()) + "\n"
