"""The other half of each defect test (test_defects.py): the probes that catch a defect in the stored
defective output pass on what meshc compiles today. Where the fix is a rule that refuses the
stored spec (defects 2 and 10), the rule refuses it, and the spec written as the rule asks
(examples/shop's `requireClaims`; the gateway pods' `workload.account`) compiles to output that
passes. So each probe fails because of the defect, and the real lowering no longer has it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from verify_helpers import FIXTURES

from meshc.compiler.pipeline import run
from meshc.compiler.verify import verify
from meshc.spec.diagnostics import SpecError

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop" / "mesh.yaml"

FIXED: list[tuple[str, Path, list[str]]] = [
    ("1", SHOP, ["routes[1] (api)", "Host: shop.example.com:443", "without JWT"]),
    ("2", SHOP, ["(admin-api)", "lacking"]),
    ("3-same-namespace", SHOP, ["-> api.stripe.com", "not a caller, same namespace"]),
    ("3-egress-gateway", SHOP, ["-> api.stripe.com", "straight to the egress gateway"]),
    ("3-callers", SHOP, ["egress: payments -> api.stripe.com"]),
    ("3-no-gateway", SHOP, ["-> api.sendgrid.com", "not a caller"]),
    ("4", FIXTURES / "d4-port-mtls-disable.mesh.yaml", ["edge: web -> db :5432"]),
    ("5", FIXTURES / "d5-default-deny-off.mesh.yaml", ["non-edge: batch -> api"]),
    ("6", SHOP, ["foreign:"]),
    ("8", SHOP, ["edge-no-sidecar: catalog -> catalog-db"]),
    ("9", FIXTURES / "d9-methods-tcp-port.mesh.yaml", ["edge: web -> cache :6379 tcp"]),
]


def _results(path: Path, words: list[str]) -> list[tuple[str, bool, str]]:
    c = run(path, schemas=False, behaviour=False)
    assert c.index is not None
    report = verify(c.index, c.manifests)
    return [
        (r.probe.key, r.ok, r.reason) for r in report.results if all(w in r.probe.key + " " for w in words)
    ]


@pytest.mark.parametrize(("defect", "spec", "probe_words"), FIXED, ids=[f[0] for f in FIXED])
def test_the_lowering_passes_the_probe_that_caught_the_defect(
    defect: str, spec: Path, probe_words: list[str]
) -> None:
    found = _results(spec, probe_words)
    assert found, f"no probe matches {probe_words}: the test would prove nothing"
    assert [(key, reason) for key, ok, reason in found if not ok] == []


def test_defect_2_the_stored_spec_is_refused() -> None:  # claims routing as access control
    with pytest.raises(SpecError) as refused:
        run(FIXTURES / "shop.mesh.yaml", schemas=False, behaviour=False)
    assert "MC126" in {d.code for d in refused.value.diagnostics}


def test_defect_10_refused_until_the_pods_identity_is_stated(tmp_path: Path) -> None:
    stored = FIXTURES / "d10-gateway-selector.mesh.yaml"
    with pytest.raises(SpecError) as refused:
        run(stored, schemas=False, behaviour=False)
    assert "MC130" in {d.code for d in refused.value.diagnostics}
    doc = yaml.safe_load(stored.read_text(encoding="utf-8"))
    # the helm gateway chart's `istio: ingress` pods run as service account istio-ingress
    doc["spec"]["gateways"][0]["workload"]["account"] = "istio-ingress"
    stated = tmp_path / "mesh.yaml"
    stated.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    found = _results(stated, ["gateway: external -> gateway/edge"])
    assert found and all(ok for _, ok, _ in found), found
