"""Load a spec and a captured output (the defective resources, stored as data) and verify them."""

from __future__ import annotations

from pathlib import Path

import yaml

from meshc.compiler.lower import Manifest
from meshc.compiler.pipeline import parse
from meshc.compiler.verify import Report, verify

FIXTURES = Path(__file__).parent / "fixtures"


def manifests_of(path: Path) -> list[Manifest]:
    out = []
    for body in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if body:
            meta = body["metadata"]
            out.append(Manifest(body["kind"], meta.get("namespace"), meta["name"], body))
    return out


def verify_fixture(name: str) -> Report:
    # No semantic rules: the stored spec is the one the defective output came from, and the rules
    # added with the fixes refuse some of it (MC126); the verifier needs only its typed model.
    return verify(parse(FIXTURES / f"{name}.mesh.yaml").index, manifests_of(FIXTURES / f"{name}.today.yaml"))
