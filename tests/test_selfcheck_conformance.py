"""Istio's own CRD conformance data (istio/api ``tests/testdata``) run against the self-check.

Why: meshc promises that nothing it writes is rejected by an API server carrying Istio's CRDs.
Istio's conformance data says, document by document, what such an API server accepts and what
it rejects and with which error. Every document with an ``_err`` key must be rejected, every
other accepted (see ``tests/data/istio-api-validation/VENDORED.md``).

The expected text is the API server's. Where meshc's message contains it, it is checked
verbatim. Where meshc words the same error differently (its schema errors come from
jsonschema_rs, its CEL errors from celpy), a ``Wording`` below states the difference once and
turns the API server's text into what meshc must say, at which path; every case that needs one
is listed by its id in ``test_wording_differences_are_the_known_ones``, so a change shows up.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
import yaml_rs

from meshc.compiler.selfcheck import SelfCheckError, check_resources

DATA = Path(__file__).resolve().parent / "data" / "istio-api-validation"

# Items PyYAML reads differently from Go (see VENDORED.md): (file, document name, path) ->
# (what PyYAML reads, what Go reads). The test fails if PyYAML's reading is not the one stated.
GO_YAML_READS: dict[tuple[str, str, tuple[str | int, ...]], tuple[Any, Any]] = {
    ("serviceentry-valid.yaml", "full", ("spec", "addresses", 1)): ({"001:db8:": None}, "001:db8::"),
}


@dataclass(frozen=True)
class Case:
    id: str
    expected_error: str | None
    resource: dict[str, Any]


def _put_back_go_readings(file: str, doc: dict[str, Any], applied: set[Any]) -> None:
    name = (doc.get("metadata") or {}).get("name")
    for (f, n, path), (pyyaml_reads, go_reads) in GO_YAML_READS.items():
        if (f, n) != (file, name):
            continue
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        assert parent[path[-1]] == pyyaml_reads, f"{file}:{name}: PyYAML no longer reads {path} as stated"
        parent[path[-1]] = go_reads
        applied.add((f, n, path))


def load_cases() -> list[Case]:
    cases: list[Case] = []
    applied: set[Any] = set()
    for path in sorted(DATA.glob("*.yaml")):
        for i, doc in enumerate(
            d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None
        ):
            assert isinstance(doc, dict), f"{path.name} document {i} is not a mapping"
            expected = doc.pop("_err", None)
            _put_back_go_readings(path.name, doc, applied)
            name = (doc.get("metadata") or {}).get("name")
            cases.append(Case(f"{path.name}#{i}:{name}", expected, doc))
    assert applied == set(GO_YAML_READS), "an item in GO_YAML_READS was not found"
    return cases


CASES = load_cases()
VALID = [c for c in CASES if c.expected_error is None]
INVALID = [c for c in CASES if c.expected_error is not None]


def _line(e: SelfCheckError) -> str:
    return f"{e.path}: {e.message}"


# ---------------------------------------------------------------------------------------------
# Known wording differences
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How one form of an API server message reads in meshc, and why it differs."""

    name: str
    why: str
    pattern: re.Pattern[str]
    # (match, errors) -> the meshc errors that are the expected one
    expect: Callable[[re.Match[str], list[SelfCheckError]], list[SelfCheckError]]


def _at(path: str, fragment: str) -> Callable[[re.Match[str], list[SelfCheckError]], list[SelfCheckError]]:
    """meshc errors whose path ends with the match's ``path`` group (the API server's text may
    start mid-path) and whose message contains ``fragment`` (formatted with the match)."""

    def expect(m: re.Match[str], errors: list[SelfCheckError]) -> list[SelfCheckError]:
        want_path = path.format(**m.groupdict())
        want = fragment.format(**m.groupdict())
        return [e for e in errors if e.path.endswith(want_path) and want in e.message]

    return expect


def _missing_field(m: re.Match[str], errors: list[SelfCheckError]) -> list[SelfCheckError]:
    parent, _, name = m["path"].rpartition(".")
    return [e for e in errors if e.path == parent and e.message == f'missing required field "{name}"']


WORDINGS = [
    Wording(
        "required",
        "meshc reports a missing field at the object that lacks it, as JSON Schema does",
        re.compile(r"^(?P<path>[\w.\[\]]+): Required value$"),
        _missing_field,
    ),
    Wording(
        "min-length",
        "jsonschema_rs says 'is shorter than N character(s)'",
        # the expected text is sometimes cut short: "... should be at least", "... chars lon"
        re.compile(r"^(?P<path>\S+) in body should be at least( (?P<n>\d+)( chars?( lon(g)?)?)?)?$"),
        lambda m, errors: _at("{path}", "is shorter than " + (f"{m['n']} character" if m["n"] else ""))(
            m, errors
        ),
    ),
    Wording(
        "pattern",
        "jsonschema_rs says 'does not match <pattern>'",
        re.compile(r"^(?P<path>\S+) in body should match$"),
        _at("{path}", "does not match"),
    ),
    Wording(
        "type",
        "jsonschema_rs says '<value> is not of type \"<type>\"'",
        re.compile(r'^(?P<path>\S+) in body must be of type (?P<type>\w+)(: "(?P<got>\w+)")?$'),
        lambda m, errors: [
            e
            for e in _at("{path}", 'is not of type "{type}"')(m, errors)
            if m["got"] is None or e.message.startswith(m["got"])
        ],
    ),
    Wording(
        "minimum",
        "jsonschema_rs says 'is less than the minimum of N'",
        re.compile(r"^(?P<path>\S+) in body should be greater than or equal to (?P<n>\S+)$"),
        _at("{path}", "is less than the minimum of {n}"),
    ),
    Wording(
        "min-properties",
        "jsonschema_rs says 'has less than N property'",
        re.compile(r"^(?P<path>\S+) in body should have at least (?P<n>\d+) properties$"),
        _at("{path}", "has less than {n} propert"),
    ),
    Wording(
        "invalid-value",
        "the API server's generic 'Invalid value'; meshc names the constraint, at the same path",
        re.compile(r"^(?P<path>[\w.\[\]]+): Invalid value$"),
        lambda m, errors: [e for e in errors if e.path == m["path"]],
    ),
    Wording(
        "cel-type-prefix",
        "the API server puts the value's type before a CEL rule's message; meshc adds the rule after it",
        re.compile(r'^(?P<path>[\w.\[\]]+): Invalid value: "\w+": (?P<msg>.+)$'),
        lambda m, errors: [e for e in errors if e.path == m["path"] and m["msg"] in e.message],
    ),
    Wording(
        "unsupported",
        "meshc lists the allowed values: 'unsupported value \"X\"; allowed: ...'",
        re.compile(r'^Unsupported value: (?P<value>".*")$'),
        lambda m, errors: [e for e in errors if f"unsupported value {m['value']}" in e.message],
    ),
    Wording(
        "cel-conversion",
        "the CEL error comes from celpy, not cel-go: 'cannot convert' instead of 'type conversion error'",
        re.compile(r"^type conversion error from"),
        lambda m, errors: [e for e in errors if "rule evaluation error: cannot convert" in e.message],
    ),
]


def wording_for(expected: str) -> tuple[Wording, re.Match[str]] | None:
    for w in WORDINGS:
        m = w.pattern.search(expected)
        if m:
            return w, m
    return None


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_files_are_the_vendored_ones() -> None:
    """Every file matches the sha256 in VENDORED.md, and VENDORED.md lists every file."""
    note = (DATA / "VENDORED.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", note, re.MULTILINE))
    present = sorted(p.name for p in DATA.iterdir() if p.name != "VENDORED.md")
    assert sorted(listed) == present
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_a_yaml_1_2_reader_reads_the_files_the_same() -> None:
    """Why GO_YAML_READS exists: yaml-rs (YAML 1.2) reads every document exactly as PyYAML
    does, the IPv6 flow item included, so switching readers would not help."""
    for path in sorted(DATA.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        pyyaml_docs = [d for d in yaml.safe_load_all(text) if d is not None]
        loaded = yaml_rs.loads(text, parse_datetime=False)
        yaml12_docs = [d for d in loaded if d is not None] if isinstance(loaded, list) else [loaded]
        assert yaml12_docs == pyyaml_docs, path.name


def test_counts() -> None:
    """The data is all there: 33 documents to accept, 76 to reject."""
    assert (len(VALID), len(INVALID)) == (33, 76)


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.id)
def test_valid_document_is_accepted(case: Case) -> None:
    assert [_line(e) for e in check_resources([case.resource])] == []


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_document_is_rejected_with_the_expected_error(case: Case) -> None:
    expected = case.expected_error
    assert expected is not None
    errors = check_resources([case.resource])
    lines = [_line(e) for e in errors]
    assert errors, f"accepted, but the API server rejects it with {expected!r}"
    if any(expected in line for line in lines):
        return
    found = wording_for(expected)
    assert found is not None, f"no error contains {expected!r}: {lines}"
    wording, match = found
    assert wording.expect(match, errors), (
        f"no error is meshc's wording ({wording.name}: {wording.why}) of {expected!r}: {lines}"
    )


def test_wording_differences_are_the_known_ones() -> None:
    """The cases whose expected text meshc words differently, by wording. A case moving in or
    out of this list (meshc's wording changed, or the data did) must be looked at."""
    by_wording: dict[str, list[str]] = {}
    for case in INVALID:
        assert case.expected_error is not None
        lines = [_line(e) for e in check_resources([case.resource])]
        if any(case.expected_error in line for line in lines):
            continue
        found = wording_for(case.expected_error)
        by_wording.setdefault(found[0].name if found else "none", []).append(case.id)
    assert by_wording == {
        "cel-conversion": [
            "peerauth-invalid.yaml#1:bad-port",
        ],
        "cel-type-prefix": [
            "envoyfilter-invalid.yaml#0:waypoint-wrong-context",
            "envoyfilter-invalid.yaml#1:waypoint-wrong-match",
            "envoyfilter-invalid.yaml#2:waypoint-wrong-port",
        ],
        "invalid-value": [
            "destinationrule-invalid.yaml#0:bookinfo-ratings",
            "destinationrule-invalid.yaml#2:bookinfo-ratings",
            "workloadentry-invalid.yaml#6:bad-port-name",
        ],
        "min-length": [
            "reqauth-invalid.yaml#7:empty-aud",
            "reqauth-invalid.yaml#10:invalid-from-headers-empty-name",
            "reqauth-invalid.yaml#11:invalid-from-params",
            "reqauth-invalid.yaml#12:invalid-from-cookies",
            "reqauth-invalid.yaml#14:invalid-claim-to-header-claim-empty",
            "reqauth-invalid.yaml#15:invalid-claim-to-header-header-empty",
            "reqauth-invalid.yaml#18:invalid-space-delimited-claims",
            "telemetry-invalid.yaml#0:bad-provider",
            "telemetry-invalid.yaml#1:bad-custom-metric",
            "wasm-invalid.yaml#1:unset-url",
            "wasm-invalid.yaml#5:invalid-imagePullSecret",
            "wasm-invalid.yaml#6:invalid-pluginName",
            "wasm-invalid.yaml#8:invalid-env-name",
        ],
        "min-properties": [
            "peerauth-invalid.yaml#3:empty-port-level",
        ],
        "minimum": [
            "proxyconfig-invalid.yaml#0:bad-concurrency",
        ],
        "pattern": [
            "reqauth-invalid.yaml#4:bad-target-group",
            "reqauth-invalid.yaml#5:bad-target-kind",
            "reqauth-invalid.yaml#16:invalid-claim-to-header-bad-header",
            "wasm-invalid.yaml#4:invalid-sha256",
            "workloadgroup-invalid.yaml#2:http-probe-invalid",
        ],
        "required": [
            "destinationrule-invalid.yaml#1:bookinfo-ratings",
            "reqauth-invalid.yaml#2:bad-target-name",
            "reqauth-invalid.yaml#9:invalid-from-headers-no-name",
            "serviceentry-invalid.yaml#0:no-spec",
            "serviceentry-invalid.yaml#1:missing-host",
            "wasm-invalid.yaml#0:unset-port",
            "workloadentry-invalid.yaml#0:no-spec",
            "workloadgroup-invalid.yaml#0:no-spec",
        ],
        "type": [
            "reqauth-invalid.yaml#6:no-issuer",
            "reqauth-invalid.yaml#13:invalid-claim-to-header-unset",
            "wasm-invalid.yaml#11:nil",
            "wasm-invalid.yaml#12:nested-nil",
        ],
        "unsupported": [
            "peerauth-invalid.yaml#0:bad-mode",
        ],
    }, by_wording
