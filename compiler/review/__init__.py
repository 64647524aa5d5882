"""Pull-request review from git: `meshc diff`, `meshc graph` and `meshc publish`.

- `gitsource`: read a spec at any git revision from the object store (or the working tree).
- `view`: the facts a reviewer compares, derived from the compiler's `MeshIndex`.
- `intent`: intent-level changes and risks; `resources`: field-level resource changes.
- `graph`, `mermaid`, `dot`: the service graph and its renderings.
- `report`, `render`: compile two revisions, compare, and print text, Markdown or JSON.
- `publish`: commit compiled manifests to a branch with git plumbing.
- `cli`: the commands, registered into `meshc.compiler.cli` through `register(subparsers)`.
"""
