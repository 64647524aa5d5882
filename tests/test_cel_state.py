"""The CEL rules' analysis and results are kept on disk between runs (issue 17: `meshc validate`
starts without loading celpy when it meets only rules and values seen before). The state is an
optimisation only: every run gives the same problems as a run without it, a new value is
evaluated by celpy, and a damaged state is ignored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

_PROBE = """
import copy, json, sys
from meshc.compiler.selfcheck import check_resources
ap = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "reviews", "namespace": "shop"},
    "spec": {"selector": {"matchLabels": {"app": sys.argv[1]}}, "action": "ALLOW", "rules": [{}]},
}
both = copy.deepcopy(ap)
both["spec"]["targetRefs"] = [{"group": "", "kind": "Service", "name": "reviews"}]
problems = [[p.index, p.path, p.message] for p in check_resources([ap, both])]
print(json.dumps({"problems": problems, "celpy": "celpy" in sys.modules}))
"""


def _run(cache: str, label: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, label],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "MESHC_CACHE_DIR": cache},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_known_rules_and_values_need_no_celpy_and_give_the_same_problems(tmp_path: Path) -> None:
    uncached = _run("", "reviews")
    assert uncached["celpy"] is True
    assert any("only one of targetRefs or selector" in str(p) for p in uncached["problems"])  # type: ignore[union-attr]
    first = _run(str(tmp_path), "reviews")
    assert first == uncached  # the first run learns (and needs celpy)
    assert list(tmp_path.glob("cel-state-*.pickle"))
    second = _run(str(tmp_path), "reviews")
    assert second == {**uncached, "celpy": False}
    wildcard_uncached = _run("", "review*")  # a value not seen before: celpy evaluates it
    assert wildcard_uncached["problems"] != uncached["problems"]
    assert _run(str(tmp_path), "review*") == wildcard_uncached
    assert _run(str(tmp_path), "review*") == {**wildcard_uncached, "celpy": False}


def test_a_damaged_state_is_ignored(tmp_path: Path) -> None:
    expected = _run("", "reviews")
    _run(str(tmp_path), "reviews")
    (state,) = tmp_path.glob("cel-state-*.pickle")
    import pickle

    shapes = pickle.dumps(({("rule", False): "not a tuple"}, {}))
    for damage in (b"not a pickle", b"\x80\x04\x95\x00", state.read_bytes()[:40], shapes):
        state.write_bytes(damage)
        assert _run(str(tmp_path), "reviews") == expected
