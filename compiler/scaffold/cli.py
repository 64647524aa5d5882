"""The `init` command (registered into `meshc` by `meshc.compiler.cli`)."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..exits import EXIT_OK, EXIT_USAGE

INIT_EPILOG = """\
Writes, in DIR (default: the current directory, created if missing):

  mesh.yaml                  a starter spec (two services and an ingress gateway)
  mesh.schema.json           the spec's JSON Schema, for editors (`meshc schema` refreshes it)
  Pulumi.yaml, __main__.py   a Pulumi project deploying the spec with meshc.pulumi.Mesh
  Pulumi.dev.yaml            the stack "dev" (one cluster: the kubeconfig context kind-NAME)
  requirements.txt           meshc[deploy], for Pulumi's virtualenv and CI
  .github/workflows/mesh.yml validate, diff as a PR comment, pulumi preview on PRs, pulumi up on main
  .pre-commit-config.yaml    meshc validate before each commit
  .gitignore, README.md

`meshc plan --stack dev` works in DIR at once, offline. Nothing is written if any of these files
exists already.

examples:
  meshc init shop-mesh && cd shop-mesh && meshc plan --stack dev
  meshc init . --name payments

exit codes: 0 written, 2 a file exists already, a bad name, or DIR cannot be written
"""

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""The mesh name is also the namespace of the starter services: a DNS label."""


@dataclass(frozen=True)
class Target:
    path: str
    """Where the file goes, relative to DIR."""
    template: str
    """Its template in `templates/` (dot-files are stored without the dot)."""


TARGETS = (
    Target("mesh.yaml", "mesh.yaml.tmpl"),
    Target("mesh.schema.json", ""),  # generated from the models, so it matches this meshc
    Target("Pulumi.yaml", "Pulumi.yaml.tmpl"),
    Target("Pulumi.dev.yaml", "Pulumi.dev.yaml.tmpl"),
    Target("__main__.py", "__main__.py.tmpl"),
    Target("requirements.txt", "requirements.txt.tmpl"),
    Target(".github/workflows/mesh.yml", "mesh.yml.tmpl"),
    Target(".pre-commit-config.yaml", "pre-commit-config.yaml.tmpl"),
    Target(".gitignore", "gitignore.tmpl"),
    Target("README.md", "README.md.tmpl"),
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "init",
        help="scaffold a repository for a new mesh: spec, Pulumi project, CI workflow, pre-commit",
        description="Scaffold a repository for a new mesh: a starter spec, a Pulumi project using "
        "meshc.pulumi.Mesh, a CI workflow and a pre-commit config. Never overwrites a file.",
        epilog=INIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("directory", nargs="?", default=".", type=Path, metavar="DIR", help="default: .")
    p.add_argument(
        "--name",
        help="the mesh's name (a DNS label; also its namespace and the Pulumi project's name); "
        "default: derived from DIR",
    )
    p.set_defaults(handler=cmd_init)


def _error(message: str, hint: str | None = None) -> int:
    print(f"meshc: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return EXIT_USAGE


def default_name(directory: Path) -> str:
    """DIR's name as a DNS label: lower case, runs of anything else as one '-'."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "mesh"


def _pin() -> str:
    """`==<this meshc's version>` for requirements.txt, so CI deploys with the meshc that wrote
    the project; nothing when meshc runs from a checkout that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"=={version('meshc')}"
    except PackageNotFoundError:
        return ""


def render(name: str) -> dict[str, str]:
    """Relative path -> text of every file `init` writes."""
    from meshc.spec.schema import schema_text

    templates = resources.files("meshc.compiler.scaffold").joinpath("templates")
    values = {"@@NAME@@": name, "@@PROJECT@@": name, "@@PIN@@": _pin()}
    files: dict[str, str] = {}
    for target in TARGETS:
        if not target.template:
            files[target.path] = schema_text()
            continue
        text = templates.joinpath(target.template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        files[target.path] = text
    return files


def cmd_init(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    name = args.name if args.name is not None else default_name(directory)
    if not NAME.match(name):
        return _error(
            f"--name {name!r}: not a valid mesh name",
            "lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit",
        )
    if directory.exists() and not directory.is_dir():
        return _error(f"{directory}: exists and is not a directory")
    files = render(name)
    existing = sorted(p for p in files if (directory / p).exists() or (directory / p).is_symlink())
    if existing:
        for path in existing:
            print(f"{directory / path}: error: exists already (meshc init never overwrites)", file=sys.stderr)
        return _error(
            f"nothing was written to {directory}",
            "run meshc init in an empty directory (or one without these files), or move them aside",
        )
    try:
        for path, text in files.items():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            # "x": refuse to replace a file that appeared since the check above.
            with open(target, "x", encoding="utf-8", newline="\n") as out:
                out.write(text)
    except OSError as exc:
        return _error(f"{exc.filename or directory}: {exc.strerror or exc}")
    shown = str(directory)
    print(f"meshc: wrote a new mesh project {name!r} in {shown}:", file=sys.stderr)
    for path in files:
        print(f"  {path}", file=sys.stderr)
    print(
        f"next: cd {shown} && meshc validate mesh.yaml && meshc plan --stack dev  (see README.md)",
        file=sys.stderr,
    )
    return EXIT_OK
