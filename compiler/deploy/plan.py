"""`meshc plan`: run the stack's Pulumi program offline and show what it registers.

The tree comes from the registrations themselves (their parent links), not from a second idea of
what the program should do: per cluster, the provider and each namespace's resources with their
type, logical name, provider and explicit dependencies.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from meshc.compiler.manifest import kind_rank

from .mockrun import ProgramRun, Registration

CLUSTER_TYPE = "meshc:deploy:Cluster"
NAMESPACE_TYPE = "meshc:deploy:Namespace"
MESH_TYPE = "meshc:index:Mesh"
PROVIDER_TYPE = "pulumi:providers:kubernetes"


def notice(stack: str) -> list[str]:
    return [
        "This is an OFFLINE PLAN, not a diff against live state. It lists what the Pulumi program",
        "registers, computed under the Pulumi SDK's mock engine: no Pulumi CLI, no state backend and",
        "no cluster were contacted, so it cannot say what `pulumi up` would create, change or delete.",
        f"For that, run `pulumi preview --stack {stack}` (or `meshc deploy --stack {stack} --preview`).",
    ]


def plain(value: Any) -> Any:
    """Values as the program wrote them: protobuf turns every number into a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _urn_name(urn: str) -> str:
    return urn.split("::", 3)[-1]


def _kind(reg: Registration) -> str:
    return reg.type.rsplit(":", 1)[-1]


def _display_path(value: str, project_dir: Path) -> str:
    """Paths without the machine in them: `~` for the home directory, project-relative below it."""
    path = Path(value)
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        pass
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return value


def resources_json(run: ProgramRun, project_dir: Path) -> list[dict[str, Any]]:
    out = []
    for reg in run.registrations:
        item: dict[str, Any] = {
            "type": reg.type,
            "name": reg.name,
            "urn": reg.urn,
            "parent": _urn_name(reg.parent) if reg.parent else None,
            "provider": _urn_name(reg.provider) if reg.provider else None,
            "dependsOn": [_urn_name(d) for d in reg.dependencies],
            "custom": reg.custom,
        }
        if reg.read:
            item["read"] = True
        if reg.retain_on_delete:
            item["retainOnDelete"] = True
        if reg.protect:
            item["protect"] = True
        if reg.aliases:
            item["aliases"] = reg.aliases
        if reg.inputs is not None:
            inputs = plain(reg.inputs)
            if reg.type == PROVIDER_TYPE and isinstance(inputs.get("kubeconfig"), str):
                inputs = {**inputs, "kubeconfig": _display_path(inputs["kubeconfig"], project_dir)}
            item["inputs"] = inputs
        out.append(item)
    return out


def render_json(run: ProgramRun, project_dir: Path, previous: bool) -> str:
    payload = {
        "offline": True,
        "notice": " ".join(notice(run.stack)),
        "project": run.project,
        "stack": run.stack,
        "previousDeployment": previous,
        "exitCode": run.exit_code,
        "error": run.error,
        "diagnostics": [{"severity": s, "message": m} for s, m in run.logs],
        "notes": [n for n in run.notes if not n.startswith("Traceback")],
        "resources": resources_json(run, project_dir),
        "outputs": plain(run.outputs),
    }
    return json.dumps(payload, indent=2, sort_keys=False) + "\n"


def _sort_key(reg: Registration) -> tuple[int, str]:
    return (kind_rank(_kind(reg)), reg.name)


def render_text(run: ProgramRun, project_dir: Path, previous: bool) -> str:
    by_urn = {r.urn: r for r in run.registrations}
    children: dict[str | None, list[Registration]] = defaultdict(list)
    for reg in run.registrations:
        parent = reg.parent if reg.parent in by_urn else None
        children[parent].append(reg)
    lines = [f"meshc plan: stack {run.stack} (project {run.project})", ""]
    lines += notice(run.stack)
    if previous:
        lines.append(
            "Previous deployment: the outputs given with --previous (make-before-break compares with them)."
        )
    else:
        lines.append(
            "Previous deployment: none given; subsets are ordered as for a first deployment (see --previous)."
        )
    lines.append("")

    def resource_lines(reg: Registration, indent: str) -> list[str]:
        flags = []
        if reg.provider:
            flags.append(f"provider={_urn_name(reg.provider)}")
        if reg.retain_on_delete:
            flags.append("retain-on-delete")
        if reg.protect:
            flags.append("protect")
        out = [f"{indent}{reg.name}  [{reg.type}]" + (f"  {' '.join(flags)}" if flags else "")]
        if reg.dependencies:
            out.append(f"{indent}  after: {', '.join(_urn_name(d) for d in reg.dependencies)}")
        if reg.aliases:
            out.append(f"{indent}  aliases: {'; '.join(reg.aliases)}")
        return out

    def provider_line(reg: Registration, indent: str) -> str:
        inputs = plain(reg.inputs or {})
        details = [f"context={inputs.get('context', '-')}"]
        if isinstance(inputs.get("kubeconfig"), str):
            details.append(f"kubeconfig={_display_path(inputs['kubeconfig'], project_dir)}")
        else:
            details.append("kubeconfig=$KUBECONFIG or ~/.kube/config")
        details.append(f"server-side-apply={inputs.get('enableServerSideApply', 'false')}")
        return f"{indent}provider {reg.name}  [{reg.type}]  {' '.join(details)}"

    # Clusters wherever they sit: under a Mesh component, at the stack's root (stacks deployed before
    # the component existed) or under a user's own component.
    clusters_found = sorted((r for r in run.registrations if r.type == CLUSTER_TYPE), key=lambda r: r.name)
    inside: set[str] = set()
    for reg in clusters_found:
        lines.append(f"cluster {reg.name}  [{reg.type}]")
        inside.add(reg.urn)
        kids = children[reg.urn]
        for kid in sorted(kids, key=lambda r: (r.type != PROVIDER_TYPE, r.type != NAMESPACE_TYPE, r.name)):
            inside.add(kid.urn)
            if kid.type == PROVIDER_TYPE:
                lines.append(provider_line(kid, "  "))
            elif kid.type == NAMESPACE_TYPE:
                lines.append(f"  namespace {kid.name}  [{kid.type}]")
                for res in sorted(children[kid.urn], key=_sort_key):
                    inside.add(res.urn)
                    lines += resource_lines(res, "    ")
            else:
                lines += resource_lines(kid, "  ")
        lines.append("")
    others = sorted(
        (r for r in run.registrations if r.urn not in inside), key=lambda r: (r.type != MESH_TYPE, r.name)
    )
    if others:
        lines.append("stack")
        for reg in others:
            if reg.type == PROVIDER_TYPE:
                lines.append(provider_line(reg, "  "))
                continue
            lines += resource_lines(reg, "  ")
            if reg.type == MESH_TYPE:
                held = sorted(c.name for c in clusters_found if c.parent == reg.urn)
                lines.append(f"    clusters: {', '.join(held) or 'none'}")
            if reg.type == "pulumi:pulumi:StackReference":
                target = (reg.inputs or {}).get("name", "?")
                lines.append(
                    f"    reads the outputs of {target} (this stack's previous deployment) "
                    "before the resources whose order depends on them are registered"
                )
        lines.append("")
    if run.outputs:
        lines.append("outputs")
        for name in sorted(run.outputs):
            lines.append(f"  {name}: {json.dumps(plain(run.outputs[name]), sort_keys=True)}")
        lines.append("")
    kube = [r for r in run.registrations if r.custom and r.type.startswith("kubernetes:")]
    clusters = [r for r in run.registrations if r.type == CLUSTER_TYPE]
    counts: dict[str, int] = defaultdict(int)
    for r in kube:
        counts[_kind(r)] += 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    lines.append(
        f"{len(kube)} Kubernetes resources in {len(clusters)} cluster{'s' if len(clusters) != 1 else ''}"
        + (f": {summary}" if summary else "")
    )
    return "\n".join(lines) + "\n"
