"""scripts/system-deps: what the set-up installs on a fresh machine, tested on one that has it all.

The decisions are tested with PATHs that hide tools (a folder of symlinks to the real ones, less
the hidden ones), the apt side with apt's own simulation (`apt-get -s`), so a package list that
apt would refuse fails here even though every tool is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "system-deps"
IN_CI = os.environ.get("CI") == "true"

needs_apt = pytest.mark.skipif(
    shutil.which("apt-get") is None and not IN_CI, reason="not a Debian machine (no apt-get)"
)


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH with every command of the real PATH except `hidden`."""
    farm = tmp_path / "bin"
    farm.mkdir()
    for folder in reversed(os.environ["PATH"].split(os.pathsep)):
        if not folder or not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            if entry.name in hidden:
                continue
            link = farm / entry.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(entry.resolve() if entry.is_symlink() else entry)
    return str(farm)


def run(
    *args: str,
    path: str | None = None,
    user: int | None = None,
    python: str | None = None,
    script: Path = SCRIPT,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path or os.environ["PATH"], "PYTHON": python or "python3"}
    command = ["bash", str(script), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


def _nodejs_provides() -> str:
    return (
        subprocess.run(
            ["dpkg-query", "-W", "-f=${Provides}", "nodejs"], capture_output=True, text=True, check=False
        ).stdout
        if shutil.which("dpkg-query")
        else ""
    )


NODEJS_BRINGS_NPM = "npm" in [p.split()[0] for p in _nodejs_provides().split(",") if p.strip()]
"""nodesource's Node.js (this kind of machine's) provides npm itself."""


def all_tools_present() -> bool:
    return all(shutil.which(tool) for tool in ("dot", "node", "npm", "promtool"))


@pytest.fixture
def complete_machine() -> None:
    if not all_tools_present():
        if IN_CI:
            pytest.fail("make test runs scripts/system-deps first: dot, node, npm and promtool must be here")
        pytest.skip("needs a machine where scripts/system-deps has run")


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        ((), ""),
        (("dot", "promtool"), "graphviz prometheus"),
        (("npm",), "" if NODEJS_BRINGS_NPM else "npm"),
        (("node", "npm"), "nodejs" if NODEJS_BRINGS_NPM else "nodejs npm"),
        (("dot",), "graphviz"),
    ],
    ids=["nothing-missing", "fresh-machine", "no-npm", "no-node", "no-dot"],
)
def test_installs_exactly_what_is_missing(
    tmp_path: Path, complete_machine: None, hidden: tuple[str, ...], expected: str
) -> None:
    result = run("--print", path=path_without(tmp_path, *hidden))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@needs_apt
def test_dry_run_accepts_the_list_for_a_bare_machine() -> None:
    result = run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run ok" in result.stderr or "needs no Debian package" in result.stderr


@needs_apt
def test_dry_run_fails_on_the_old_conflicting_line() -> None:
    """The line the Makefile once ran: Debian's npm next to nodesource's Node.js, which bundles npm."""
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "nodejs"], capture_output=True, text=True, check=False
    ).stdout
    if "nodesource" not in version:
        pytest.skip(f"Node.js here is not nodesource's ({version or 'not installed'}): nothing conflicts")
    result = run("--dry-run", "--packages", "graphviz nodejs npm")
    assert result.returncode == 1
    assert "dry run FAILED" in result.stderr and "Conflicts" in result.stderr


@needs_apt
def test_without_root_it_says_what_to_install_and_goes_on(tmp_path: Path, complete_machine: None) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists():
        pytest.skip("needs root (to drop to another user) and /usr/bin/python3")
    # pytest's tmp_path is private to root: the other user's PATH lives in a folder it can read.
    with tempfile.TemporaryDirectory() as shared:
        Path(shared).chmod(0o755)
        path = path_without(Path(shared), "dot", "promtool")
        # The clone may sit in a folder only root can read (/root/...): run a copy of the script.
        script = Path(shared) / "system-deps"
        shutil.copy(SCRIPT, script)
        result = run(path=path, user=65534, python="/usr/bin/python3", script=script)
    assert result.returncode == 0, result.stderr
    assert "missing: graphviz prometheus; install them by hand" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


FAKE_APT = """#!/bin/sh
# apt-cache/dpkg-query stand-ins: nodejs is not installed; apt's candidate is CANDIDATE.
case "$(basename "$0") $1" in
  "dpkg-query -W") exit 1 ;;
  "dpkg-query -S") exit 1 ;;
  "apt-cache policy") printf 'nodejs:\\n  Installed: (none)\\n  Candidate: %s\\n' "$CANDIDATE" ;;
  "apt-cache show") [ -n "$PROVIDES" ] && printf 'Package: nodejs\\nProvides: %s\\n' "$PROVIDES" ;;
esac
exit 0
"""


@pytest.mark.parametrize(
    ("candidate", "provides", "expected"),
    [
        ("20.20.2-1nodesource1", "nodejs-dev, nodejs-legacy, npm", "nodejs"),
        ("18.20.4+dfsg-1~deb12u2", "", "nodejs npm"),
    ],
    ids=["nodesource-candidate", "debian-candidate"],
)
def test_npm_is_not_asked_for_beside_a_nodejs_that_brings_it(
    tmp_path: Path, complete_machine: None, candidate: str, provides: str, expected: str
) -> None:
    """A bare machine whose apt offers nodesource's Node.js: the plan must not add Debian's npm."""
    path = path_without(tmp_path, "node", "npm", "apt-cache", "dpkg-query")
    for name in ("apt-cache", "dpkg-query"):
        fake = Path(path) / name
        fake.write_text(FAKE_APT)
        fake.chmod(0o755)
    env = {**os.environ, "PATH": path, "CANDIDATE": candidate, "PROVIDES": provides}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--print"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_unknown_option_is_a_usage_error() -> None:
    result = run("--frobnicate")
    assert result.returncode == 2 and "unknown option" in result.stderr


@needs_apt
def test_installing_with_node_and_npm_hidden_never_asks_for_debians_npm(
    tmp_path: Path, complete_machine: None
) -> None:
    """The install path itself, as a bare machine runs it (everything is installed here, so apt has
    nothing to do): with nodesource's Node.js, Debian's npm must not be asked for, or apt refuses."""
    if os.geteuid() != 0:
        pytest.skip("installing needs root")
    if not NODEJS_BRINGS_NPM:
        pytest.skip("Node.js here does not bring npm: Debian's npm is what a bare machine needs")
    result = run(path=path_without(tmp_path, "dot", "promtool", "node", "npm"))
    assert result.returncode == 0, result.stderr
    assert "apt-get install npm" not in result.stderr and "refused" not in result.stderr
    assert "apt-get install nodejs" in result.stderr
