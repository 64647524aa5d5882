"""`meshc.pulumi`: the `Mesh` component for your own Pulumi program, and meshc's own program.

    from meshc.pulumi import Cluster, Mesh, Shard

`Mesh` (module `mesh`) compiles a spec and registers it under your providers; `Cluster` and `Shard`
are its typed arguments. They are imported on first use, so importing the plain-Python modules
below (as `meshc plan` and the tests do) does not load Pulumi.

`__main__.py` is the program: stack config -> compile the spec -> register the resources -> export
the outputs. The modules beside it:

- `stack_config`: the typed stack config (`meshc:spec`, `meshc:clusters`, `meshc:shard`, ...) and its checks;
- `selection`: which compiled manifests a (sharded) stack deploys;
- `ordering`: `dependsOn` between resources (namespaces first, subset make-before-break);
- `mesh`: the `Mesh` component (compile, register in order, outputs);
- `components`: the component resources (one per cluster and per namespace) and the registration;
- `outputs`: the stack outputs (ingress hosts, counts, spec digest and commit);
- `program`: the steps `__main__` runs, with the clean error reporting Pulumi users expect.

Only `mesh`, `components`, `program` and `errors` import Pulumi; the others are plain Python, shared with
`meshc plan` and the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mesh import Cluster, Mesh, Shard

__all__ = ["Cluster", "Mesh", "Shard"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import mesh

        return getattr(mesh, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
