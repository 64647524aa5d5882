"""The short seeded fuzz run of the test suite (the long one: `python -m tests.fuzz.run`)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .harness import run_case, warm_up
from .strategies import cases

SHORT_RUN = 300


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


@settings(
    max_examples=SHORT_RUN,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(cases())
def test_fuzzed_specs_keep_the_contract(text: str) -> None:
    outcome = run_case(text)
    assert outcome.good, f"{outcome.cls}\n--- spec ---\n{text[:4000]}"
