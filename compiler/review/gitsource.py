"""Read a spec as it is at any git revision, straight from the object store.

Nothing here touches the working tree, the index or HEAD: a revision is resolved with
`git rev-parse`, and the spec's blobs are read through GitPython's object database. The working
tree is read from disk only when asked for (`read_worktree`). What comes back is a `Revision`: the
(display name, bytes) pairs that `meshc.spec.loader.load_sources` takes, or no sources at all when
the spec does not exist at that revision (a spec added or deleted by the change under review).

Every way this can go wrong for the user (not a repository, a ref that does not exist, a
repository without commits, a path outside the repository) raises `GitSourceError`, which the CLI
reports as a usage problem (exit 2).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Without this, importing GitPython where git is not installed raises ImportError; we would rather
# say "git is not installed" when a command actually needs it.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git
from git.objects import Blob, Tree

from meshc.spec import fileset
from meshc.spec.loader import LoadedSpec, is_cue_spec, load_sources, load_spec, spec_files

SYMLINK_MODE = 0o120000
_MAX_LINKS = 8
_FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


GIT_MISSING = "git is not installed (or not on PATH); install it, e.g. `apt-get install git`"


GitMissing = git.GitCommandNotFound
"""Raised by GitPython wherever it runs git and git is not there (the CLI reports `GIT_MISSING`)."""


class GitSourceError(Exception):
    """A usage or environment problem reading from git (exit 2); the message says what to do."""


@dataclass(frozen=True, slots=True)
class Revision:
    """One side of a comparison: the spec's files at a commit, or in the working tree."""

    label: str
    """For people: `origin/main (1a2b3c4)`, `working tree`."""
    path: str
    """The spec's path: repository-relative (POSIX) for a commit, as given for the working tree."""
    ref: str | None = None
    """The ref as the user wrote it (None for the working tree)."""
    commit: str | None = None
    """Full SHA of the commit read (None for the working tree)."""
    sources: list[tuple[str, bytes]] | None = None
    """(display name, bytes) per spec file, for `load_sources`; None when the spec does not exist here."""
    relative_names: list[str] = field(default_factory=list)
    """Each file's path relative to the spec (its name for a single file): the input of `digest`."""
    cue_display: str | None = None
    """Set for a CUE spec (a `.cue` file or a CUE package directory): the name CUE evaluates it as."""
    overlays: tuple[Revision, ...] = ()
    """Overlay files (`--overlay`) at the same revision, merged onto the spec by `load`."""

    @property
    def is_cue(self) -> bool:
        return self.cue_display is not None

    def load(self, overlays: Sequence[Revision] | None = None) -> LoadedSpec:
        """The spec's data and source map (raises SpecError); the spec must exist. `overlays`
        (default: the revision's own) are overlay files at the same revision, merged on in order;
        one the revision lacks (added by the change under review) is left out there."""
        loaded = self._load()
        present = [o for o in (self.overlays if overlays is None else overlays) if o.sources is not None]
        if not present:
            return loaded
        from meshc.spec.overlay import apply_overlays, cue_overlay_refused, overlay_source

        if self.is_cue:
            raise cue_overlay_refused(self.path, present[0].path)
        files = []
        for overlay in present:
            assert overlay.sources is not None
            if len(overlay.sources) != 1 or overlay.is_cue:
                raise GitSourceError(f"{overlay.path}: an overlay is one YAML file")
            files.append(overlay_source(*overlay.sources[0]))
        return apply_overlays(loaded, files)

    def _load(self) -> LoadedSpec:
        assert self.sources is not None
        if self.cue_display is None:
            return load_sources(self.sources)
        if self.commit is None:  # the working tree: CUE evaluates the files where they are
            return load_spec(self.path)
        from meshc.spec.cue.spec import load_cue_sources  # the CUE toolchain only for CUE specs

        return load_cue_sources(self.sources, self.cue_display)

    @property
    def exists(self) -> bool:
        return self.sources is not None

    @property
    def short(self) -> str | None:
        return self.commit[:7] if self.commit else None

    def digest(self) -> str | None:
        """`sha256:<hex>` of the spec's content, independent of where and when it was read."""
        if self.sources is None:
            return None
        h = hashlib.sha256()
        for name, (_, data) in zip(self.relative_names, self.sources, strict=True):
            h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
        return f"sha256:{h.hexdigest()}"


def open_repo(spec: str | Path, repo_path: str | Path | None = None) -> git.Repo:
    """The repository holding `spec` (searching upwards), or the one at `repo_path` (may be bare)."""
    try:
        if repo_path is not None:
            return git.Repo(repo_path)
        start = Path(spec).absolute()
        while not start.exists() and start != start.parent:
            start = start.parent  # the spec may be deleted in the working tree: search from its folder
        if start.is_file():
            start = start.parent
        return git.Repo(start, search_parent_directories=True)
    except git.NoSuchPathError:
        raise GitSourceError(f"{repo_path}: no such directory") from None
    except git.InvalidGitRepositoryError:
        where = repo_path if repo_path is not None else spec
        hint = "" if repo_path is not None else " (pass --repo PATH for a repository elsewhere)"
        raise GitSourceError(f"{where}: not inside a git repository{hint}") from None
    except git.GitCommandNotFound:
        raise GitSourceError(GIT_MISSING) from None


def is_bare(repo: git.Repo) -> bool:
    return bool(repo.bare)


def repo_relative(repo: git.Repo, spec: str | Path) -> str:
    """The spec's path inside the repository, as a POSIX path.

    A path that lies inside the working tree (relative to the current directory or absolute) is made
    relative to its top; anything else (always, for a bare repository) is taken as a path inside the
    repository already.
    """
    text = str(spec)
    top = repo.working_tree_dir if not repo.bare else None
    if top is not None:
        real_top = os.path.realpath(top)
        absolute = Path(text).absolute()
        # Resolve symlinks in the folders (a /tmp -> /private/tmp style alias) but not of the spec itself.
        parent = os.path.realpath(absolute.parent)
        candidate = os.path.join(parent, absolute.name) if absolute.name else parent
        if candidate == real_top or candidate.startswith(real_top + os.sep):
            rel = os.path.relpath(candidate, real_top)
            return "" if rel == "." else Path(rel).as_posix()
        if Path(text).is_absolute():
            raise GitSourceError(f"{text}: outside the repository at {top}")
    rel = posixpath.normpath(text.replace(os.sep, "/")).lstrip("/")
    if rel == "." or rel.startswith("../") or rel == "..":
        if rel == ".":
            return ""
        raise GitSourceError(f"{text}: outside the repository")
    return rel


def has_commits(repo: git.Repo) -> bool:
    try:
        return repo.head.is_valid()
    except (ValueError, git.GitCommandError):
        return False


def resolve(repo: git.Repo, ref: str) -> str:
    """The full SHA of the commit `ref` names, with git's own revision syntax (`origin/main`, `HEAD~2`)."""
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise GitSourceError(f"{ref!r}: not a valid git revision")
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")).strip()
    except git.GitCommandNotFound:
        raise GitSourceError(GIT_MISSING) from None
    except git.GitCommandError:
        if not has_commits(repo) and not _names_anything(repo, ref):
            raise GitSourceError(
                f"{ref}: the repository at {_where(repo)} has no commits yet; commit the spec first"
            ) from None
        raise GitSourceError(
            f"{ref}: no such commit, branch or tag in {_where(repo)}"
            + (" (in CI, fetch the base branch first: `git fetch origin <branch>`)" if "/" in ref else "")
        ) from None


def _names_anything(repo: git.Repo, ref: str) -> bool:
    try:
        repo.git.rev_parse("--verify", "--quiet", "--end-of-options", ref)
        return True
    except git.GitCommandError:
        return False


def _where(repo: git.Repo) -> str:
    return str(repo.working_tree_dir or repo.git_dir)


def label_for(ref: str, sha: str) -> str:
    """`main (1a2b3c4)`; a SHA the user typed is only shortened."""
    if _FULL_SHA.match(ref) or (sha.startswith(ref) and re.fullmatch(r"[0-9a-f]{4,}", ref)):
        return sha[:7]
    return f"{ref} ({sha[:7]})"


def _display_ref(ref: str, sha: str) -> str:
    return sha[:7] if re.fullmatch(r"[0-9a-f]{4,64}", ref) else ref


def read_revision(repo: git.Repo, ref: str, path: str) -> Revision:
    """The spec at `path` (a file, or a directory of *.yaml/*.yml) as committed at `ref`."""
    sha = resolve(repo, ref)
    commit = repo.commit(sha)
    label = label_for(ref, sha)
    tag = _display_ref(ref, sha)
    node = _lookup(commit.tree, path)
    if node is None:
        return Revision(label, path, ref, sha, None)
    if isinstance(node, Blob):
        blob = _follow_links(commit.tree, node, path)
        if blob is None:
            return Revision(label, path, ref, sha, None)
        name = posixpath.basename(path) or path
        if path.endswith(".cue"):
            # CUE evaluates a single file under a name ending in `.cue`: the ref is in the label.
            return Revision(label, path, ref, sha, [(path, _read_blob(blob, path))], [name], cue_display=path)
        display = f"{path}@{tag}"
        return Revision(label, path, ref, sha, [(display, _read_blob(blob, display))], [name])
    tree = GitTree(node)
    chosen = fileset.spec_files(tree)
    if chosen.cue:
        display = f"{path or '.'}@{tag}"
        cue_sources: list[tuple[str, bytes]] = []
        cue_names: list[str] = []
        for rel, blob in _cue_blobs(commit.tree, tree, chosen.files, path):
            cue_sources.append((f"{display}/{rel}", _read_blob(blob, f"{display}/{rel}")))
            cue_names.append(rel)
        return Revision(label, path, ref, sha, cue_sources, cue_names, cue_display=display)
    sources: list[tuple[str, bytes]] = []
    names: list[str] = []
    for rel, blob in _resolved(commit.tree, [(rel, tree.blob(rel)) for rel in chosen.files], path):
        display = f"{posixpath.join(path, rel) if path else rel}@{tag}"
        sources.append((display, _read_blob(blob, display)))
        names.append(rel)
    if not sources:
        raise GitSourceError(f"{path or '.'}@{tag}: directory contains no *.yaml or *.yml spec files")
    return Revision(label, path, ref, sha, sources, names)


def _lookup(tree: Tree, path: str) -> Blob | Tree | None:
    if not path:
        return tree
    try:
        node = tree / path
    except KeyError:
        return None
    return node if isinstance(node, Blob | Tree) else None  # a submodule is not a spec


def _follow_links(root: Tree, blob: Blob, path: str) -> Blob | None:
    """A symlinked spec file is read through its (repository-internal) target."""
    for _ in range(_MAX_LINKS):
        if blob.mode != SYMLINK_MODE:
            return blob
        target = blob.data_stream.read().decode("utf-8", "replace")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if target.startswith("/") or path.startswith(".."):
            return None
        node = _lookup(root, path)
        if not isinstance(node, Blob):
            return None
        blob = node
    return None


@dataclass
class GitTree:
    """A spec directory in a git commit, for `meshc.spec.fileset` (which decides what its files are)."""

    tree: Tree
    _below: dict[str, Blob] | None = None

    def top_level_files(self) -> list[str]:
        return [b.name for b in self.tree.blobs]

    def files_below(self) -> list[str]:
        return list(self._blobs_below())

    def blob(self, relative: str) -> Blob:
        if self._below is not None:
            return self._below[relative]
        found = self.tree / relative
        assert isinstance(found, Blob), relative  # a name `top_level_files` or `files_below` gave
        return found

    def _blobs_below(self) -> dict[str, Blob]:
        if self._below is None:
            self._below = {}
            stack: list[tuple[str, Tree]] = [("", self.tree)]
            while stack:
                prefix, current = stack.pop()
                for item in current:
                    rel = f"{prefix}{item.name}"
                    if isinstance(item, Tree):
                        if not item.name.startswith("."):  # never a spec file below a hidden folder
                            stack.append((rel + "/", item))
                    elif isinstance(item, Blob):
                        self._below[rel] = item
        return self._below


def _resolved(root: Tree, blobs: list[tuple[str, Blob]], path: str) -> list[tuple[str, Blob]]:
    """`blobs` (relative to `path`) read through their symlinks; a link leading nowhere is dropped."""
    found = [(rel, _follow_links(root, b, posixpath.join(path, rel) if path else rel)) for rel, b in blobs]
    return [(rel, b) for rel, b in found if b is not None]


def _cue_blobs(root: Tree, tree: GitTree, files: tuple[str, ...], path: str) -> list[tuple[str, Blob]]:
    """The package's `.cue` files and, for a module root, everything under `cue.mod/` (read by CUE
    from the directory it runs in, so copied out of git with the package)."""
    found = [(rel, tree.blob(rel)) for rel in files]
    for item in tree.tree.trees:
        if item.name == fileset.CUE_MODULE:
            found.extend(
                (posixpath.relpath(b.path, path or "."), b) for b in item.traverse() if isinstance(b, Blob)
            )
    return sorted(_resolved(root, found, path), key=lambda pair: pair[0])


def _read_blob(blob: Blob, display: str) -> bytes:
    data: bytes = blob.data_stream.read()
    if data.startswith(_LFS_POINTER):
        raise GitSourceError(
            f"{display}: is a Git LFS pointer, not the spec; specs must be stored in git itself"
        )
    return data


def _inside(file: Path, root: str | Path | None, display: str) -> Path:
    """`file`, when it (through every symlink) lies inside the repository's working tree `root`.

    A spec file that is a symlink out of the repository is not read: its content (a credential
    file, say) would end up in diffs, CI logs and pull-request comments, and the committed spec
    that reviewers see could not contain it anyway (git stores the link, not the target)."""
    if root is None:
        return file
    real_root = os.path.realpath(root)
    real = os.path.realpath(file)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise GitSourceError(
            f"{display}: leads out of the repository through a symlink; "
            "the working-tree spec must live inside the repository (nothing was read)"
        )
    return file


def read_worktree(spec: str | Path, root: str | Path | None = None) -> Revision:
    """The spec as it is on disk now (committed or not), with the paths the user gave.

    `root`, the repository's working tree, bounds what is read: see `_inside`."""
    display = str(spec)
    path = Path(spec)
    if not path.exists():
        return Revision("working tree", display, None, None, None)
    if is_cue_spec(path):
        from meshc.spec.cue.spec import cue_source_files

        files = cue_source_files(path, display)
        try:
            data = [(name, _inside(file, root, name).read_bytes()) for name, file in files]
        except OSError as exc:
            raise GitSourceError(f"{display}: cannot read file: {exc.strerror}") from None
        rels = [file.name for _, file in files]
        return Revision("working tree", display, None, None, data, rels, cue_display=display)
    sources: list[tuple[str, bytes]] = []
    names: list[str] = []
    for file_path, name in spec_files(path, display):  # raises SpecError for an empty directory
        try:
            sources.append((name, _inside(file_path, root, name).read_bytes()))
        except OSError as exc:
            raise GitSourceError(f"{name}: cannot read file: {exc.strerror}") from None
        names.append(file_path.relative_to(path).as_posix() if path.is_dir() else path.name)
    return Revision("working tree", display, None, None, sources, names)


def head_commit(repo: git.Repo) -> str | None:
    """The SHA HEAD points at, or None in a repository without commits."""
    return repo.head.commit.hexsha if has_commits(repo) else None


def is_dirty(repo: git.Repo, path: str) -> bool:
    """True when the spec at `path` differs from HEAD in the working tree or index, or is untracked."""
    return bool(dirty_paths(repo, path))


def dirty_paths(repo: git.Repo, path: str) -> list[str]:
    """The files under the spec's `path` (repository-relative, sorted) that differ from HEAD in the
    working tree or index, or are untracked; `[path]` when that cannot be told (no commit yet)."""
    if repo.bare:
        return []
    spec = path or "."
    if not has_commits(repo):
        return [spec]
    try:
        # GIT_OPTIONAL_LOCKS=0: `status` must not refresh (write) the user's index.
        changed = repo.git.status(
            "--porcelain", "-z", "--untracked-files=all", "--", spec, env={"GIT_OPTIONAL_LOCKS": "0"}
        )
    except git.GitCommandNotFound:
        raise GitSourceError(GIT_MISSING) from None
    except git.GitCommandError:
        return [spec]
    # -z entries are `XY path`; a rename or copy is followed by one more entry, its old path.
    paths: set[str] = set()
    entries = iter(changed.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        paths.add(entry[3:])
        if entry[0] in "RC":
            next(entries, None)
    return sorted(paths)
