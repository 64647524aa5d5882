"""Which files make up a spec, decided once for every place a spec is read from.

A spec is a file, or a directory. A directory is a CUE package when its top level holds `.cue`
files and no YAML spec file; its files are then the top-level `*.cue` (CUE reads `cue.mod/`, the
module, itself). Otherwise it is a YAML spec: every `*.yaml`/`*.yml` below it, in any folder,
hidden files and folders (a name starting with `.`) skipped, in the order of their path parts.

The rules are written over relative POSIX paths (`SpecTree`), so the same decision is made for a
directory on disk (`DiskTree`, the loader) and a tree in a git commit
(`meshc.compiler.review.gitsource`, which reads a spec at a ref).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SPEC_SUFFIXES = (".yaml", ".yml")
CUE_SUFFIX = ".cue"
CUE_MODULE = "cue.mod"
"""A CUE module's own directory: part of a CUE package's files when they are copied out of git."""


class SpecTree(Protocol):
    """A directory holding a spec, wherever it is stored."""

    def top_level_files(self) -> Iterable[str]:
        """The names of the regular files directly in the directory."""
        ...

    def files_below(self) -> Iterable[str]:
        """The relative POSIX paths of every regular file below the directory (a store may leave
        out hidden folders it need not walk: `yaml_files` skips them anyway)."""
        ...


@dataclass(frozen=True, slots=True)
class SpecFiles:
    """The files of a spec directory, as relative POSIX paths in the order they are loaded."""

    cue: bool
    files: tuple[str, ...]


def is_cue_file(name: str) -> bool:
    return posixpath.splitext(name)[1] == CUE_SUFFIX


def is_cue_package(top_level_files: Iterable[str]) -> bool:
    """`.cue` files and no YAML spec file at the top of the directory."""
    suffixes = {posixpath.splitext(name)[1] for name in top_level_files}
    return CUE_SUFFIX in suffixes and not suffixes & set(SPEC_SUFFIXES)


def hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def yaml_files(paths: Iterable[str]) -> tuple[str, ...]:
    """The YAML spec files among `paths` (relative POSIX), hidden ones skipped, in load order."""
    chosen = (p for p in paths if posixpath.splitext(p)[1] in SPEC_SUFFIXES and not hidden(p))
    return tuple(sorted(chosen, key=lambda p: tuple(p.split("/"))))


def cue_files(top_level_files: Iterable[str]) -> tuple[str, ...]:
    """The `.cue` files of a package directory, sorted."""
    return tuple(sorted(name for name in top_level_files if is_cue_file(name)))


def spec_files(tree: SpecTree) -> SpecFiles:
    """The files that make up the spec in directory `tree` (none found: an empty `files`)."""
    top = list(tree.top_level_files())
    if is_cue_package(top):
        return SpecFiles(True, cue_files(top))
    return SpecFiles(False, yaml_files(tree.files_below()))


@dataclass(frozen=True, slots=True)
class DiskTree:
    """A spec directory on disk (symbolic links followed, as opening the files does)."""

    root: Path

    def top_level_files(self) -> list[str]:
        return [p.name for p in self.root.iterdir() if p.is_file()]

    def files_below(self) -> list[str]:
        return [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]
