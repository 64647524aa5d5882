"""meshc's Pulumi program (Pulumi.yaml: `main: stacks/`): stack config -> `Mesh` component -> export.

A thin user of `meshc.pulumi.Mesh`, the component any Pulumi program can instantiate; this one
takes the spec and the clusters from the stack config (`meshc:spec`, `meshc:clusters`, ...).

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

from meshc.pulumi.mesh import Mesh  # noqa: E402
from meshc.pulumi.program import collect_garbage_rarely, export_outputs, read_config  # noqa: E402

context = read_config(Path(__file__))  # typed and checked before anything is registered
collect_garbage_rarely()  # from here on the heap only grows until the engine has answered
# Compiles the spec (nothing is registered if it or the config is wrong), then registers every
# resource under its cluster and namespace, make-before-break after reading the last deployment.
mesh = Mesh.from_stack_config("mesh", context)
export_outputs(context, mesh.compiled, mesh.outputs)
