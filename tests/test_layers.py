"""The import layering stays true: the spec layer knows nothing of the compiler, lowering knows
nothing of the rules or the review, and Pulumi is imported only by the stacks and, lazily (inside
the handlers, so that `meshc validate` never loads it), by `compiler/deploy/`.

Every `import` in every module counts, those inside functions and under `if TYPE_CHECKING:` too."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The import name of each part and the repository directory that holds it (meshc/ links to them).
PACKAGES = {"meshc.spec": "mesh_spec", "meshc.compiler": "compiler", "meshc.pulumi": "stacks"}
OLD_NAMES = tuple(PACKAGES.values())  # importable from the repository root, never to be imported


def modules() -> list[tuple[str, Path]]:
    found = [
        (f"meshc.{p.stem}" if p.stem != "__init__" else "meshc", p)
        for p in sorted((ROOT / "meshc").glob("*.py"))
    ]
    for package, directory in PACKAGES.items():
        for path in sorted((ROOT / directory).rglob("*.py")):
            parts = path.relative_to(ROOT / directory).with_suffix("").parts
            name = ".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])
            found.append((name, path))
    return found


def imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import; `from a import b` yields both
    `a` and `a.b`, since `b` may be a submodule."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, in_function
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield base, node.lineno, in_function
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno, in_function
        for child in ast.iter_child_nodes(node):
            yield from visit(child, in_function or isinstance(node, functions))

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = modules()


Importers = Callable[[str], bool]


def violations(importers: Importers, forbidden: tuple[str, ...], *, lazy_ok: bool = False) -> list[str]:
    """`file:line: module imports target` for each import of `forbidden` by a module `importers`
    accepts (imports inside functions excepted with `lazy_ok`)."""
    return sorted(
        f"{path.relative_to(ROOT)}:{line}: {module} imports {target}"
        for module, path in MODULES
        if importers(module)
        for target, line, in_function in imports(module, path)
        if any(within(target, f) for f in forbidden) and not (lazy_ok and in_function)
    )


def test_the_scan_sees_the_imports_it_polices() -> None:
    """Guard against a vacuous pass: the walker finds known imports, relative and lazy ones included."""
    found = {(m, t, lazy) for m, p in MODULES for t, _, lazy in imports(m, p)}
    assert ("meshc.compiler.lower", "meshc.compiler.manifest", False) in found
    assert ("meshc.compiler.deploy.deploy", "pulumi.automation", True) in found
    assert ("meshc.pulumi.program", "pulumi", False) in found
    assert ("meshc.compiler.parallel", "meshc.compiler.workers", False) in found
    assert ("meshc.spec.cue.running", "meshc.spec.cue.errors", False) in found


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("meshc.spec", ("meshc.compiler", "meshc.pulumi")),
        ("meshc.compiler", ("meshc.pulumi",)),
        ("meshc.compiler.lower", ("meshc.compiler.rules", "meshc.compiler.review")),
        # The pipeline's core is sequential: forking (rules beside lowering) is `parallel`'s, which
        # the CLI drives; the core never reaches for it.
        ("meshc.compiler.pipeline", ("meshc.compiler.parallel", "meshc.compiler.workers")),
        # The CUE adapter's parts: finding CUE and mapping its errors know nothing of running it.
        ("meshc.spec.cue.discovery", ("meshc.spec.cue.running", "meshc.spec.cue.errors")),
        ("meshc.spec.cue.errors", ("meshc.spec.cue.running", "meshc.spec.cue.discovery")),
        # Which files make up a spec is decided over paths, for disk and git alike.
        ("meshc.spec.fileset", ("meshc.spec.loader", "git", "meshc.compiler")),
        ("meshc.spec", ("git",)),
    ],
)
def test_layer_imports_nothing_above_it(importer: str, forbidden: tuple[str, ...]) -> None:
    assert violations(lambda module: within(module, importer), forbidden) == []


def test_pulumi_only_in_the_stacks_and_lazily_in_deploy() -> None:
    elsewhere = violations(
        lambda m: not within(m, "meshc.pulumi") and not within(m, "meshc.compiler.deploy"), ("pulumi",)
    )
    assert elsewhere == []
    eager = violations(lambda m: within(m, "meshc.compiler.deploy"), ("pulumi",), lazy_ok=True)
    assert eager == [], (
        "compiler/deploy/ imports pulumi inside functions only (meshc validate must not load it)"
    )


def test_nothing_imports_the_directories_by_their_own_names() -> None:
    """`compiler`, `mesh_spec` and `stacks` are importable from the repository root, but a module
    imported under two names exists twice (two classes, two registries); the wheel has only `meshc`."""
    scanned = [*MODULES]
    for directory in ("tests", "bench", "scripts"):
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "data" not in path.relative_to(ROOT).parts:
                scanned.append((".".join(path.relative_to(ROOT).with_suffix("").parts), path))
    old = sorted(
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for module, path in scanned
        for target, line, _ in imports(module, path)
        if any(within(target, name) for name in OLD_NAMES)
    )
    assert old == []
