"""meshc's Pulumi program (Pulumi.yaml: `main: stacks/`): stack config -> compile -> register -> export.

Pulumi runs this file with the working directory set to `stacks/` and that directory first on
`sys.path`; the program imports its modules through the `stacks` package instead (so no module here
can shadow another), and resolves the paths in the stack config against the directory of Pulumi.yaml.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import pulumi  # noqa: E402

from meshc.pulumi.program import (  # noqa: E402
    collect_garbage_rarely,
    compile_stack,
    export_outputs,
    read_config,
    read_previous_deployment,
    register,
    subset_routing,
)

context = read_config(Path(__file__))  # typed and checked before anything is registered
compiled = compile_stack(context)  # the `meshc compile` pipeline, then this stack's part of it
collect_garbage_rarely()  # from here on the heap only grows until the engine has answered


async def deploy() -> None:
    routing = subset_routing(compiled)
    decision = await read_previous_deployment(compiled, routing)  # make-before-break needs the last subsets
    registered = register(compiled, routing, decision)  # one component per cluster and namespace
    export_outputs(compiled, registered)


pulumi.run(deploy)  # Pulumi awaits it once this module has run (pulumi >= 3.254)
