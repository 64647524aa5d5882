"""meshc's Pulumi program (`main: stacks/` in Pulumi.yaml) and the pieces it is made of.

`__main__.py` is the program: stack config -> compile the spec -> register the resources -> export
the outputs. The modules beside it:

- `stack_config`: the typed stack config (`meshc:spec`, `meshc:clusters`, `meshc:shard`, ...) and its checks;
- `selection`: which compiled manifests a (sharded) stack deploys;
- `ordering`: `dependsOn` between resources (namespaces first, subset make-before-break);
- `components`: the component resources (one per cluster and per namespace) and the registration;
- `outputs`: the stack outputs (ingress hosts, counts, spec digest and commit);
- `program`: the steps `__main__` runs, with the clean error reporting Pulumi users expect.

Only `components`, `program` and `errors` import Pulumi; the others are plain Python, shared with
`meshc plan` and the tests.
"""
