"""Run the real Pulumi program (the `main` of Pulumi.yaml) under the Pulumi SDK's mock engine.

This is how `meshc plan`, the tests and the stack benchmark execute the program without the Pulumi
CLI, a state backend or a cluster: `pulumi.runtime.set_mocks` with a `MockMonitor` that also records
what the program asked for (parent, provider, dependencies, options, inputs), the stack config read
from `Pulumi.<stack>.yaml` and handed over as the CLI would (`set_all_config`, values as strings,
objects JSON-encoded), and the program started the way Pulumi's Python language host starts it:
`run_in_stack(lambda: runpy.run_path(main, run_name="__main__"))`.

The SDK keeps its state in process-wide globals: one program run per process. The tests run each
program in a fresh subprocess (`python -m meshc.deploy.mockrun`, JSON in and out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
ORGANIZATION = "organization"
"""The organization Pulumi's DIY (local/file) backend uses for every stack."""


class ProjectError(Exception):
    """The project or the stack config file cannot be used (a usage problem: exit 2)."""


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    main: Path
    config: dict[str, Any]
    """Project-level config from Pulumi.yaml (already flattened to full keys)."""


def find_project(start: Path) -> Path:
    """The nearest directory at or above `start` holding Pulumi.yaml, as the Pulumi CLI finds it."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    raise ProjectError(f"{start}: no Pulumi.yaml here or in any parent directory (pass -C DIR)")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProjectError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path}: not valid YAML: {exc}") from None


def load_project(directory: Path) -> Project:
    path = next((directory / n for n in PROJECT_FILES if (directory / n).is_file()), None)
    if path is None:
        raise ProjectError(f"{directory}: no Pulumi.yaml")
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ProjectError(f"{path}: a Pulumi project file needs a `name`")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProjectError(f"{path}: runtime is {runtime_name!r}; meshc's program is a Python program")
    main = directory / str(data.get("main") or ".")
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise ProjectError(f"{path}: main program {main} does not exist")
    name = data["name"]
    config: dict[str, Any] = {}
    for key, value in (data.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and ("value" in value or "default" in value):
            value = value.get("value", value.get("default"))
        elif isinstance(value, dict) and "type" in value:
            continue  # a declared key without a default
        config[full] = value
    return Project(directory, name, main, config)


def stack_file(project: Project, stack: str) -> Path:
    return project.directory / f"Pulumi.{stack}.yaml"


def stack_config(
    project: Project, stack: str, config_file: Path | None = None
) -> tuple[dict[str, str], list[str]]:
    """The config map the CLI would hand the program for `stack` (project config overlaid with the
    stack file), as strings; and notes about what could not be reproduced offline."""
    path = config_file or stack_file(project, stack)
    if not path.is_file():
        stacks = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in project.directory.glob("Pulumi.*.yaml")
        )
        raise ProjectError(f"{path}: no such stack config file (stacks here: {', '.join(stacks) or 'none'})")
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping with a `config:` section")
    notes: list[str] = []
    if data.get("environment"):
        notes.append(f"{path.name}: Pulumi ESC environments are not read by an offline plan")
    merged: dict[str, Any] = dict(project.config)
    for key, value in (data.get("config") or {}).items():
        merged[key if ":" in key else f"{project.name}:{key}"] = value
    values: dict[str, str] = {}
    for key, value in merged.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            notes.append(f"{key}: a secret; an offline plan cannot decrypt it and uses a placeholder")
            value = "[secret]"
        values[key] = config_string(value)
    return values, notes


def config_string(value: Any) -> str:
    """A config value as the Pulumi CLI passes it to a program: strings as they are, everything
    else JSON-encoded (`true`, `3`, `{"east": {...}}`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    """URN of the provider resource the resource names (None for components)."""
    dependencies: list[str]
    custom: bool
    read: bool = False
    retain_on_delete: bool = False
    protect: bool = False
    aliases: list[str] = field(default_factory=list)
    """What the resource may have been registered as before: alias URNs, or `type=... name=...`
    for alias specs (fields left out mean "the same as now")."""
    inputs: dict[str, Any] | None = None
    seq: int = 0
    """Order in which the engine received the registration (concurrent ones may swap)."""


@dataclass
class ProgramRun:
    project: str
    stack: str
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)
    """(severity, message) the program logged through pulumi.log."""
    exit_code: int = 0
    error: str | None = None
    """One line: why the program stopped (None when it completed)."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProgramRun:
        regs = [Registration(**r) for r in data.pop("registrations")]
        logs = [(s, m) for s, m in data.pop("logs")]
        return cls(registrations=regs, logs=logs, **data)


_ran = False


def _alias_text(alias: Any) -> str:
    if alias.WhichOneof("alias") == "urn":
        return str(alias.urn)
    spec = alias.spec
    fields = [("type", spec.type), ("name", spec.name), ("stack", spec.stack), ("project", spec.project)]
    parent = spec.WhichOneof("parent")
    if parent == "parentUrn":
        fields.append(("parent", spec.parentUrn))
    elif parent == "noParent" and spec.noParent:
        fields.append(("parent", "none"))
    return " ".join(f"{k}={v}" for k, v in fields if v) or "(same)"


def run_program(
    project: Project,
    stack: str,
    config: dict[str, str],
    *,
    previous_outputs: dict[str, Any] | None = None,
    record_inputs: bool = True,
    program: Callable[[], None] | None = None,
) -> ProgramRun:
    """Run the program once in this process under the mock engine. `program` replaces the project's
    main (the benchmark's baseline uses it); `previous_outputs` are what the stack's StackReference to
    itself reads back (the outputs of the last deployment; none by default)."""
    global _ran
    if _ran:
        raise RuntimeError("the Pulumi SDK keeps global state: run one program per process")
    _ran = True

    import time

    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import rpc
    from pulumi.runtime import settings as pulumi_settings

    result = ProgramRun(project.name, stack)
    local = threading.local()
    inputs: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    thread_loops: list[asyncio.AbstractEventLoop] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            urn = getattr(local, "urn", None)
            if record_inputs and urn is not None:
                with lock:
                    inputs[urn] = args.inputs
            if args.typ == "pulumi:pulumi:StackReference":
                return args.name, {
                    "name": args.inputs.get("name"),
                    "outputs": dict(previous_outputs or {}),
                    "secretOutputNames": [],
                }
            metadata = args.inputs.get("metadata") if isinstance(args.inputs, dict) else None
            if isinstance(metadata, dict) and metadata.get("name"):
                ident = "/".join(str(p) for p in (metadata.get("namespace"), metadata["name"]) if p)
            else:
                ident = f"{args.name}-id"
            return ident, dict(args.inputs)

        def call(
            self, args: pulumi.runtime.MockCallArgs
        ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    class Monitor(pulumi_mocks.MockMonitor):
        def _record(self, request: Any, *, read: bool) -> str:
            urn = self.make_urn(request.parent, request.type, request.name)
            provider = request.provider.rsplit("::", 1)[0] if request.provider else None
            reg = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                provider=provider,
                dependencies=sorted(getattr(request, "dependencies", []) or []),
                custom=bool(getattr(request, "custom", True)),
                read=read,
                retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                protect=bool(getattr(request, "protect", False)),
                aliases=[_alias_text(a) for a in getattr(request, "aliases", ())]
                + list(getattr(request, "aliasURNs", ())),
            )
            with lock:
                reg.seq = len(result.registrations)
                result.registrations.append(reg)
            return urn

        def RegisterResource(self, request: Any) -> Any:
            if request.type == "pulumi:pulumi:Stack":
                return super().RegisterResource(request)
            local.urn = self._record(request, read=False)
            try:
                return super().RegisterResource(request)
            finally:
                local.urn = None
                _note_thread_loop()

        def ReadResource(self, request: Any) -> Any:
            local.urn = self._record(request, read=True)
            try:
                return super().ReadResource(request)
            finally:
                local.urn = None
                _note_thread_loop()

        def RegisterResourceOutputs(self, request: Any) -> Any:
            if "::pulumi:pulumi:Stack::" in request.urn:
                result.outputs = rpc.deserialize_properties(request.outputs)
            return super().RegisterResourceOutputs(request)

    def _note_thread_loop() -> None:
        # The mock monitor gives each executor thread an event loop of its own; close them at the end.
        if not getattr(local, "loop_noted", False):
            local.loop_noted = True
            with lock:
                thread_loops.append(asyncio.get_event_loop())

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            result.logs.append((record.levelname.lower(), record.getMessage()))

    logger = logging.getLogger(f"meshc.deploy.program.{id(result)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())

    # Config comes from the stack file only, never from a Pulumi run this process happens to be in.
    for key in [k for k in os.environ if k == "PULUMI_CONFIG" or k.startswith("PULUMI_CONFIG_")]:
        del os.environ[key]
    # The SDK schedules work on the current event loop from set_mocks on: make it ours first.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = Mocks()
    monitor = Monitor(mocks)
    pulumi.runtime.set_mocks(
        mocks,
        project=project.name,
        stack=stack,
        preview=False,
        logger=logger,
        monitor=monitor,
        organization=ORGANIZATION,
    )
    pulumi.runtime.set_all_config(dict(config))
    # set_mocks made a root stack of its own; the program gets a fresh one, as under `pulumi up`, so
    # its exports are registered as the stack's outputs.
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]

    def run_main() -> None:
        # As Pulumi's Python host starts a program: in the directory of its main file, which is
        # also first on sys.path (a user's program may open or import files relative to it).
        here, path = Path.cwd(), list(sys.path)
        os.chdir(project.main.parent)
        sys.path.insert(0, str(project.main.parent))
        try:
            runpy.run_path(str(project.main), run_name="__main__")
        finally:
            os.chdir(here)
            sys.path[:] = path

    main: Callable[[], None] = program or run_main
    start = time.perf_counter()
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(main))
    except pulumi.RunError as exc:
        result.exit_code = int(getattr(exc, "exit_code", 3))
        result.error = str(exc)
    except Exception as exc:  # a crash in the program: a meshc bug
        result.exit_code = 3
        result.error = f"internal error: the program crashed: {type(exc).__name__}: {exc}"
        result.notes.append(traceback.format_exc())
    finally:
        result.seconds = time.perf_counter() - start
        _close(loop, thread_loops)
    result.registrations.sort(key=lambda r: r.urn)
    if record_inputs:
        for reg in result.registrations:
            reg.inputs = inputs.get(reg.urn)
    return result


def _close(loop: asyncio.AbstractEventLoop, thread_loops: list[asyncio.AbstractEventLoop]) -> None:
    """Stop the executor threads and close every event loop now, not at interpreter exit, where
    their finalizers complain about sockets already closed."""
    try:
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        for other in thread_loops:
            if other is not loop and not other.is_running() and not other.is_closed():
                other.close()
        loop.close()


def run_stack(
    directory: Path,
    stack: str,
    *,
    config_file: Path | None = None,
    previous_outputs: dict[str, Any] | None = None,
) -> ProgramRun:
    """Load the project and the stack's config file, then run the program (see `run_program`)."""
    project = load_project(directory)
    config, notes = stack_config(project, stack, config_file)
    run = run_program(project, stack, config, previous_outputs=previous_outputs)
    run.notes[:0] = notes
    return run


def main() -> int:
    """`python -m meshc.deploy.mockrun` with {"directory", "stack", "config_file"?, "previous"?} on
    stdin: one program run in this fresh process, the ProgramRun as JSON on stdout."""
    request = json.load(sys.stdin)
    config_file = request.get("config_file")
    try:
        run = run_stack(
            Path(request["directory"]),
            request["stack"],
            config_file=Path(config_file) if config_file else None,
            previous_outputs=request.get("previous"),
        )
    except ProjectError as exc:
        json.dump({"project_error": str(exc)}, sys.stdout)
        return 2
    json.dump(run.to_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
