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

from stacks.program import compile_stack, export_outputs, read_config, register  # noqa: E402

context = read_config(Path(__file__))  # typed and checked before anything is registered
compiled = compile_stack(context)  # the `meshc compile` pipeline, then this stack's part of it
registered = register(compiled)  # one component per cluster and namespace, explicit providers
export_outputs(compiled, registered)
