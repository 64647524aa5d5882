"""The compiler: semantic checks (rule catalogue), lowering to resources, self-check, emit, CLI."""
