"""Services: added, removed, moved, placed, their ports and versions, and every `Service` field
declared `FieldMeta(review="value")` (compared generically)."""

from __future__ import annotations

from meshc.spec.models import Service

from ..view import ServiceView
from .base import DiffContext, diff_values, paired
from .fmt import listed, ports_text


def diff(ctx: DiffContext) -> None:
    for name, old, svc in paired(ctx.base.services, ctx.head.services):
        if old is None and svc is not None:
            versions = f"; versions {', '.join(svc.versions)}" if svc.versions else ""
            ctx.change(
                "services",
                "service-added",
                name,
                f"`{name}` added in namespace `{svc.namespace}`{versions}",
                None,
                {"namespace": svc.namespace},
            )
        elif svc is None and old is not None:
            ctx.change(
                "services",
                "service-removed",
                name,
                f"`{name}` removed from namespace `{old.namespace}`",
                {"namespace": old.namespace},
                None,
            )
        elif old is not None and svc is not None:
            service_changed(ctx, old, svc)


def service_changed(ctx: DiffContext, old: ServiceView, new: ServiceView) -> None:
    name = new.name
    if old.namespace != new.namespace:
        ctx.change(
            "services",
            "service-moved",
            name,
            f"`{name}` moved: namespace `{old.namespace}` → `{new.namespace}`",
            old.namespace,
            new.namespace,
        )
    if old.clusters != new.clusters:
        ctx.change(
            "services",
            "service-placement",
            name,
            f"`{name}` clusters: {listed(old.clusters)} → {listed(new.clusters)}",
            list(old.clusters),
            list(new.clusters),
        )
    if old.ports != new.ports:
        ctx.change(
            "services",
            "service-ports",
            name,
            f"`{name}` ports: {ports_text(old.ports)} → {ports_text(new.ports)}",
            ports_text(old.ports),
            ports_text(new.ports),
        )
    for version, was, v in paired(old.versions, new.versions):
        if was is None:
            ctx.change(
                "services", "version-added", name, f"`{name}` version `{version}` added", None, version
            )
        elif v is None:
            ctx.change(
                "services", "version-removed", name, f"`{name}` version `{version}` removed", version, None
            )
        else:
            if was.image != v.image:
                ctx.change(
                    "services",
                    "version-image",
                    name,
                    f"`{name}` `{version}` image: {was.image or 'none'} → {v.image or 'none'}",
                    was.image,
                    v.image,
                )
            if was.replicas != v.replicas:
                ctx.change(
                    "services",
                    "version-replicas",
                    name,
                    f"`{name}` `{version}` replicas: {was.replicas} → {v.replicas}",
                    was.replicas,
                    v.replicas,
                )
    diff_values(ctx, Service, old.values, new.values, kind="service", subject=name, label=f"`{name}`")
