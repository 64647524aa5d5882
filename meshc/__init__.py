"""meshc: one service-graph spec in, validated Istio and Kubernetes resources out.

The one import name of an installed meshc. Its parts are the pipeline's stages, which the
repository keeps as top-level directories so the layout shows the pipeline; here they are
subpackages (symbolic links in the repository, plain directories in the wheel):

- `meshc.spec`     what users write: models, loading with source positions, JSON Schema, CUE
                   (the repository's `mesh_spec/`);
- `meshc.compiler` checks (rule catalogue), lowering to resources, verification, emit, the CLI
                   (`compiler/`);
- `meshc.pulumi`   the Pulumi program and its components (`stacks/`); the only part that imports
                   Pulumi, and only when it is imported itself.

Nothing is imported eagerly here: `meshc validate` pays only for what it uses.
"""
