"""One decision of which files make up a spec, whether the directory is on disk or in a git commit
(`meshc.spec.fileset`): the loader and `meshc diff --base REF` must read the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshc.compiler.review.gitsource import GitTree
from meshc.spec.fileset import DiskTree, SpecFiles, spec_files
from tests.review.review_helpers import commit, make_repo

YAML_TREE = {
    "mesh.yaml": "a",
    "b.yml": "b",
    "z/services.yaml": "c",
    "a/b/c.yaml": "d",
    "a-b.yaml": "e",  # sorts after a/b/c.yaml by path parts ("a" < "a-b"), before by plain text
    ".hidden.yaml": "x",
    ".git-crypt/keys.yaml": "x",
    "z/.draft.yaml": "x",
    "README.md": "x",
    "notes.yaml.bak": "x",
    "x.cue": "x",  # a .cue file beside YAML: not a CUE package
}
CUE_TREE = {
    "mesh.cue": "a",
    "b.cue": "b",
    "cue.mod/module.cue": "m",
    "sub/extra.cue": "x",  # another package: not read with this one
    "README.md": "x",
}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (YAML_TREE, SpecFiles(False, ("a/b/c.yaml", "a-b.yaml", "b.yml", "mesh.yaml", "z/services.yaml"))),
        (CUE_TREE, SpecFiles(True, ("b.cue", "mesh.cue"))),
    ],
    ids=["yaml", "cue"],
)
def test_disk_and_git_choose_the_same_files(files: dict[str, str], expected: SpecFiles, tmp_path: Path):
    repo = make_repo(tmp_path / "repo")
    commit(repo, {f"spec/{name}": text for name, text in files.items()})
    on_disk = spec_files(DiskTree(tmp_path / "repo" / "spec"))
    tree = repo.head.commit.tree / "spec"
    in_git = spec_files(GitTree(tree))
    assert on_disk == in_git == expected
