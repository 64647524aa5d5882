"""The rule catalogue: fixtures per rule, catalogue invariants, generated docs, examples, scale."""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import pytest
import yaml

from meshc.compiler.index import MeshIndex
from meshc.compiler.pipeline import parse
from meshc.compiler.rules import RULES, RULES_BY_CODE, Rule, RuleContext, run_rules
from meshc.compiler.rules.docs import rules_markdown
from meshc.spec.diagnostics import Diagnostic
from meshc.spec.models import Mesh

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "rules" / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.yaml"))
EXAMPLES = sorted(ROOT.glob("examples/*/mesh.yaml"))
EXPECT = re.compile(r"^\s*#\s*expect:\s*(MC\d{3})\s+(\d+):(\d+)\s*$")

Key = tuple[str, int, int]


def diagnose(path: Path) -> list[Diagnostic]:
    c = parse(path)  # load + structure; the rules run here
    assert c.mesh is not None and c.index is not None and c.loaded is not None
    return run_rules(RuleContext(c.mesh, c.index), c.loaded.source)


def expectations(path: Path) -> set[Key]:
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = EXPECT.match(line)
        if m:
            found.add((m.group(1), int(m.group(2)), int(m.group(3))))
    return found


def _show(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diagnostics)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    code = path.parent.name
    expected = expectations(path)
    diagnostics = diagnose(path)
    own = {(d.code, d.line, d.column) for d in diagnostics if d.code == code}
    if path.name.startswith("pass-"):
        assert not {e for e in expected if e[0] == code}, "a pass fixture expects no finding of its code"
        assert own == set(), _show(diagnostics)
    else:
        assert path.name.startswith("fail-"), "fixtures are named pass-<slug>.yaml or fail-<slug>.yaml"
        assert {e for e in expected if e[0] == code}, "a fail fixture states its findings with `# expect:`"
        assert own == {e for e in expected if e[0] == code}, _show(diagnostics)
    # "Otherwise valid": no error of another rule unless the fixture expects it too.
    others = {e for e in expected if e[0] != code}
    other_errors = {
        (d.code, d.line, d.column)
        for d in diagnostics
        if d.code != code and (d.severity == "error" or (d.code, d.line, d.column) in others)
    }
    assert other_errors == others, _show(diagnostics)


def test_every_finding_has_a_message_and_hint() -> None:
    for path in FIXTURE_FILES:
        for d in diagnose(path):
            assert d.message and d.hint, d.format()


# --- catalogue -----------------------------------------------------------------------------------


def test_codes_unique_and_well_formed() -> None:
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"MC[12]\d\d", c) for c in codes), codes
    assert codes == sorted(codes)
    assert set(RULES_BY_CODE) == set(codes)


def test_names_and_severities() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
        assert rule.severity in ("error", "warning"), rule.code
        # what an incremental compile may reuse (docs/rule-scopes.md, tests/test_rule_scopes.py)
        assert rule.scope in ("namespace", "mesh"), rule.code


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_docstring_sections(rule: Rule) -> None:
    lines = rule.doc.splitlines()
    assert rule.summary and rule.summary == lines[0] and rule.summary.endswith("."), rule.summary
    assert len(lines) > 1 and lines[1] == "", "a blank line after the summary"
    starts = [i for i, line in enumerate(lines) if re.match(r"(Why|Example|Fix):", line)]
    assert [lines[i].split(":")[0] for i in starts] == ["Why", "Example", "Fix"], rule.code
    example = starts[1]
    assert lines[example] == "Example:" and lines[example + 1].startswith("    "), "an indented YAML example"
    block = "\n".join(line[4:] for line in lines[example + 1 : starts[2]])
    assert yaml.safe_load(block) is not None, "the example is YAML"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_rule_has_pass_and_fail_fixtures(rule: Rule) -> None:
    names = [p.name for p in (FIXTURES / rule.code).glob("*.yaml")]
    assert any(n.startswith("pass-") for n in names), f"{rule.code}: no pass-*.yaml fixture"
    assert any(n.startswith("fail-") for n in names), f"{rule.code}: no fail-*.yaml fixture"


def test_fixture_dirs_name_real_codes() -> None:
    for entry in FIXTURES.iterdir():
        assert entry.is_dir() and entry.name in RULES_BY_CODE, entry.name
        assert all(p.suffix == ".yaml" for p in entry.iterdir()), entry.name


def test_docs_are_generated() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(), "regenerate: meshc rules --format markdown > docs/rules.md"


def test_bare_star_egress_is_an_error() -> None:
    found = {d.severity for d in diagnose(FIXTURES / "MC113" / "fail-wildcards.yaml") if d.code == "MC113"}
    assert found == {"error", "warning"}


# --- examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_have_no_errors(path: Path) -> None:
    errors = [d for d in diagnose(path) if d.severity == "error"]
    assert not errors, _show(errors)


# --- scale -----------------------------------------------------------------------------------------


def _service(name: str, calls: list[str], **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "ports": [{"port": 8080, "protocol": "http"}],
        "calls": [{"service": c} for c in calls],
        **extra,
    }


def _mesh(services: list[dict[str, object]], gateways: list[dict[str, object]] | None = None) -> RuleContext:
    data = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "big"},
        "spec": {"services": services, "gateways": gateways or []},
    }
    mesh = Mesh.model_validate(data)
    return RuleContext(mesh, MeshIndex(mesh))


def _findings(ctx: RuleContext, code: str) -> list[str]:
    return [f.message for f in RULES_BY_CODE[code].check(ctx)]


def test_long_chain_with_cycle_is_linear_and_terminates() -> None:
    n = 10_000
    services = [_service(f"s{i}", [f"s{i + 1}"] if i + 1 < n else ["s0"]) for i in range(n)]
    services[0]["traffic"] = {"timeout": "1s"}
    services[n - 1]["traffic"] = {"timeout": "5s", "retries": {"attempts": 2}}
    services[n // 2]["traffic"] = {"retries": {"attempts": 3}}
    services[n // 3]["traffic"] = {"retries": {"attempts": 1}}
    ctx = _mesh(services)
    (budget,) = _findings(ctx, "MC110")
    assert (
        budget.startswith("service 's0' times out after 1s") and "more)" in budget and "s9999 (5s)" in budget
    )
    assert len(budget) < 400
    assert _findings(ctx, "MC111") == []  # a pure cycle has no path start
    services[n - 1]["calls"] = []
    (storm,) = _findings(_mesh(services), "MC111")
    assert "can become 24 requests to 's9999'" in storm and len(storm) < 400


def test_ten_thousand_services_all_rules_fast() -> None:
    n = 10_000
    services = []
    for i in range(n):
        calls = [f"s{(i * 7 + k) % n}" for k in (1, 2, 3)]
        extra: dict[str, object] = {"versions": [{"name": "v1"}, {"name": "v2"}]}
        if i % 10 == 0:
            extra["traffic"] = {
                "timeout": "3s",
                "retries": {"attempts": 2, "perTryTimeout": "1s"},
                "split": {"v1": 90, "v2": 10},
                "routes": [
                    {"match": [{"path": {"prefix": f"/p{i}"}}], "to": "v2"},
                    {"match": [{"path": {"prefix": f"/p{i}/x"}}], "to": "v1"},
                ],
            }
        services.append(_service(f"s{i}", calls, **extra))
    gateway: dict[str, object] = {
        "name": "public",
        "hosts": [f"h{i}.example.com" for i in range(1000)] + ["*.apps.example.com"],
        "servers": [{"port": 80, "protocol": "http"}],
        "routes": [
            {"match": [{"path": {"prefix": f"/s{i}/"}}], "to": {"service": f"s{i}"}} for i in range(0, n, 2)
        ],
    }
    ctx = _mesh(services, [gateway])
    timings = {}
    gc.collect()
    gc.disable()  # a full collection of the big model can land in any rule: time the rules only
    try:
        for rule in RULES:
            start = time.process_time()
            findings = list(rule.check(ctx))
            timings[rule.code] = time.process_time() - start
            if rule.code == "MC107":
                assert len(findings) == n // 10  # each /pN/x route after its /pN
    finally:
        gc.enable()
    # Linear rules take well under a second each here; a quadratic one would take minutes.
    slow = {code: round(t, 2) for code, t in timings.items() if t > 5.0}
    assert not slow, f"rules too slow on {n} services (CPU seconds): {slow}"


def test_an_export_to_in_the_defaults_is_reported_once_for_every_service_it_hides(tmp_path: Path) -> None:
    """MC234 at `spec.defaults.traffic.exportTo` is one mistake: one error there, naming how many
    services it hides from their callers, not one error per service on that one line; a service's
    own `exportTo` still gets its own error."""
    services = [
        {"name": f"api-{i}", "namespace": "web", "ports": [{"port": 8080, "protocol": "http"}]}
        for i in range(30)
    ]
    services.append(
        {
            "name": "admin",
            "namespace": "ops",
            "ports": [{"port": 8080, "protocol": "http"}],
            "calls": [{"service": f"web/api-{i}"} for i in range(30)],
        }
    )
    services[0]["traffic"] = {"exportTo": ["."]}  # its own setting: its own error
    spec = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "shop"},
        "spec": {"defaults": {"traffic": {"exportTo": ["."]}}, "services": services},
    }
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    parsed = parse(path)
    found = [
        d
        for d in run_rules(RuleContext(parsed.mesh, parsed.index), parsed.loaded.source)
        if d.code == "MC234"
    ]
    at_defaults = [d for d in found if "from spec.defaults.traffic" in d.message]
    assert len(at_defaults) == 1, _show(found)
    assert "(the same for 28 more: 'api-10', 'api-11'," in at_defaults[0].message
    assert (
        at_defaults[0].line == parsed.loaded.source.position(("spec", "defaults", "traffic", "exportTo"))[1]
    )
    own = [d for d in found if d not in at_defaults]
    assert [d.message.split(":")[0] for d in own] == [
        "`exportTo` of service 'api-0' leaves out namespace 'ops' of its caller 'admin'"
    ]
