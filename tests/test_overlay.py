"""Overlays (`--overlay env/prod.yaml`): merged onto a YAML spec by name, positions kept, every
mistake a diagnostic in the overlay file (docs/overlays.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from meshc.compiler.emit import dump_stream
from meshc.compiler.pipeline import Parsed, parse, run
from meshc.spec.diagnostics import SpecError
from meshc.spec.loader import load_spec
from meshc.spec.models import Service
from tests.conftest import REPO, meshc

BOOKINFO = REPO / "examples" / "bookinfo" / "mesh.yaml"
PROD = """\
metadata:
  name: bookinfo-prod
spec:
  services:
    - name: reviews
      traffic:
        split: { v1: 10, v2: 0, v3: 90 }
    - name: ratings
      versions:
        - name: v1
          image: docker.io/istio/examples-bookinfo-ratings-v1:1.20.4
"""

SMALL = """\
apiVersion: meshc.dev/v1alpha1
kind: Mesh
metadata:
  name: small
spec:
  defaults:
    namespace: shop
  services:
    - name: a
      ports: [{ port: 8080, protocol: http }]
      calls: [{ service: b }, { service: c }]
    - name: b
      ports: [{ port: 8080, protocol: http }]
    - name: c
      ports: [{ port: 8080, protocol: http }]
      calls: [{ service: gone }]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _service(parsed: Parsed, name: str) -> Service:
    (found,) = [s for s in parsed.mesh.spec.services if s.name == name]
    return found


def _errors(spec: Path, *overlays: Path) -> list[tuple[str, int, int, str]]:
    with pytest.raises(SpecError) as caught:
        run(spec, overlays=overlays)
    return [(Path(d.file).name, d.line, d.column, d.code) for d in caught.value.diagnostics]


def test_an_overlay_merges_by_name_and_compiles_like_the_merged_spec(tmp_path: Path) -> None:
    overlay = _write(tmp_path, "env/prod.yaml", PROD)
    merged = yaml.safe_load(BOOKINFO.read_text(encoding="utf-8"))
    merged["metadata"]["name"] = "bookinfo-prod"
    services = {s["name"]: s for s in merged["spec"]["services"]}
    services["reviews"]["traffic"]["split"] = {"v1": 10, "v2": 0, "v3": 90}
    services["ratings"]["versions"][0]["image"] = "docker.io/istio/examples-bookinfo-ratings-v1:1.20.4"
    by_hand = _write(tmp_path, "merged.yaml", yaml.safe_dump(merged, sort_keys=False))

    overlaid = dump_stream(run(BOOKINFO, overlays=[overlay]).manifests)
    assert overlaid == dump_stream(run(by_hand).manifests)
    assert overlaid != dump_stream(run(BOOKINFO).manifests)
    # the other versions of ratings are kept: the list merged by name, item by item
    ratings = _service(parse(BOOKINFO, overlays=[overlay]), "ratings")
    assert [v.name for v in ratings.versions] == ["v1", "v2", "v2-mysql", "v2-mysql-vm"]


def test_a_finding_about_an_overlaid_value_points_into_the_overlay(tmp_path: Path) -> None:
    overlay = _write(tmp_path, "prod.yaml", PROD.replace("v3: 90", "v3: 80"))
    assert _errors(BOOKINFO, overlay) == [("prod.yaml", 7, 9, "MC105")]


def test_a_finding_about_a_base_value_points_into_the_base(tmp_path: Path) -> None:
    spec = _write(tmp_path, "mesh.yaml", SMALL)
    overlay = _write(tmp_path, "o.yaml", "spec:\n  services:\n    - name: a\n      team: payments\n")
    assert _errors(spec, overlay) == [("mesh.yaml", 16, 17, "MC101")]


def test_positions_follow_items_moved_up_by_a_deletion(tmp_path: Path) -> None:
    spec = _write(tmp_path, "mesh.yaml", SMALL)
    overlay = _write(
        tmp_path,
        "o.yaml",
        """\
spec:
  services:
    - name: a
      calls: [{ service: b, $patch: delete }]
    - name: b
      $patch: delete
""",
    )
    loaded = load_spec(spec, [overlay])
    assert [s["name"] for s in loaded.data["spec"]["services"]] == ["a", "c"]
    # c is now services[1]; its bad call is still found on its own line of the base
    assert _errors(spec, overlay) == [("mesh.yaml", 16, 17, "MC101")]


def test_a_structure_error_in_an_overlay_points_into_it(tmp_path: Path) -> None:
    overlay = _write(tmp_path, "o.yaml", "spec:\n  services:\n    - name: reviews\n      replicaz: 2\n")
    assert _errors(BOOKINFO, overlay) == [("o.yaml", 4, 7, "MC010")]


def test_a_name_the_base_lacks_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    overlay = _write(tmp_path, "o.yaml", "spec:\n  services:\n    - name: reveiws\n      team: x\n")
    with pytest.raises(SpecError) as caught:
        run(BOOKINFO, overlays=[overlay])
    (d,) = caught.value.diagnostics
    assert (Path(d.file).name, d.line, d.column, d.code) == ("o.yaml", 3, 7, "MC216")
    assert d.hint == "did you mean 'reviews'?"


def test_patch_add_and_delete(tmp_path: Path) -> None:
    spec = _write(
        tmp_path, "mesh.yaml", SMALL.replace("calls: [{ service: gone }]", "calls: [{ service: a }]")
    )
    overlay = _write(
        tmp_path,
        "o.yaml",
        """\
spec:
  services:
    - name: a
      calls: [{ service: b, $patch: delete }]
    - name: b
      $patch: delete
    - name: debug
      $patch: add
      ports: [{ port: 8080, protocol: http }]
      calls: [{ service: nope }]
""",
    )
    assert _errors(spec, overlay) == [("o.yaml", 10, 17, "MC101")]
    fixed = _write(tmp_path, "o.yaml", overlay.read_text().replace("nope", "a"))
    index = parse(spec, overlays=[fixed]).index
    assert sorted(index.services) == ["a", "c", "debug"]


def test_overlays_apply_in_order(tmp_path: Path) -> None:
    first = _write(tmp_path, "1.yaml", PROD)
    second = _write(
        tmp_path,
        "2.yaml",
        "spec:\n  services:\n    - name: reviews\n      traffic:\n        split: { v1: 1 }\n",
    )
    assert _errors(BOOKINFO, first, second) == [("2.yaml", 5, 9, "MC105")]
    third = _write(
        tmp_path,
        "3.yaml",
        "spec:\n  services:\n    - name: reviews\n      traffic:\n        split: { v1: 10 }\n",
    )
    reviews = _service(parse(BOOKINFO, overlays=[first, second, third]), "reviews")
    assert reviews.traffic is not None and reviews.traffic.split == {"v1": 10, "v2": 0, "v3": 90}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", [("o.yaml", 1, 1, "MC215")]),
        ("kind: Other\n", [("o.yaml", 1, 1, "MC218")]),
        ("spec:\n  services:\n    - name: reviews\n      $patch: bogus\n", [("o.yaml", 4, 7, "MC219")]),
        ("spec:\n  services:\n    - replicas: 3\n", [("o.yaml", 3, 7, "MC219")]),
        ("spec:\n  security:\n    $patch: delete\n", [("o.yaml", 3, 5, "MC219")]),
        ("spec: [\n", [("o.yaml", 2, 1, "MC003")]),
        ("", [("o.yaml", 1, 1, "MC006")]),
    ],
    ids=["not-a-mapping", "kind", "unknown-patch", "no-name", "misplaced-patch", "bad-yaml", "empty"],
)
def test_a_malformed_overlay_is_a_diagnostic(tmp_path: Path, text: str, expected: list[object]) -> None:
    assert _errors(BOOKINFO, _write(tmp_path, "o.yaml", text)) == expected


def test_a_cue_spec_takes_no_overlay(tmp_path: Path) -> None:
    spec = _write(tmp_path, "mesh.cue", "package mesh\n")
    overlay = _write(tmp_path, "o.yaml", PROD)
    with pytest.raises(SpecError) as caught:
        load_spec(spec, [overlay])
    (d,) = caught.value.diagnostics
    assert d.code == "MC217" and caught.value.usage and "unifies" in (d.hint or "")


def test_the_cli_takes_overlays(tmp_path: Path) -> None:
    overlay = _write(tmp_path, "env/prod.yaml", PROD)
    ok = meshc("validate", str(BOOKINFO), "--overlay", str(overlay))
    assert ok.returncode == 0, ok.stderr
    bad = _write(tmp_path, "env/bad.yaml", "spec:\n  services:\n    - name: reveiws\n")
    result = meshc(
        "compile",
        str(BOOKINFO),
        "--overlay",
        str(overlay),
        "--overlay",
        str(bad),
        "-o",
        str(tmp_path / "out"),
    )
    assert result.returncode == 1
    assert f"{bad}:3:7: error MC216:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    missing = meshc("validate", str(BOOKINFO), "--overlay", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "MC001" in missing.stderr and "Traceback" not in missing.stderr
    graph = meshc("graph", str(BOOKINFO), "--overlay", str(overlay))
    assert graph.returncode == 0 and "v1 10%" in graph.stdout, graph.stdout


def test_a_stack_config_names_its_overlays(tmp_path: Path) -> None:
    """One Pulumi stack per environment: `meshc:overlays` in Pulumi.<stack>.yaml, as `--overlay`."""
    from tests.stacks.stackhelp import plan_config, stack_file_config

    overlay = _write(tmp_path, "env/prod.yaml", PROD)
    planned = plan_config(tmp_path, {**stack_file_config("dev"), "meshc:overlays": [str(overlay)]})
    assert planned.exit_code == 0, planned.stderr
    routes = [r for r in planned.resources if r["type"].endswith(":VirtualService")]
    assert '"weight": 90' in json.dumps(routes) or "'weight': 90" in str(routes), routes
    bad = _write(tmp_path, "env/bad.yaml", "spec:\n  services:\n    - name: reveiws\n")
    failed = plan_config(tmp_path, {**stack_file_config("dev"), "meshc:overlays": [str(bad)]})
    assert failed.exit_code != 0
    assert any(f"{bad}:3:7: error MC216:" in m for m in failed.messages), failed.messages


def test_diff_reads_each_overlay_at_its_revision(tmp_path: Path) -> None:
    from tests.review.review_helpers import commit, make_repo

    repo = make_repo(tmp_path / "repo")
    base_overlay = PROD
    commit(repo, {"mesh.yaml": BOOKINFO.read_text(encoding="utf-8"), "env/prod.yaml": base_overlay})
    head_overlay = PROD.replace("v1: 10, v2: 0, v3: 90", "v1: 0, v2: 0, v3: 100")
    _write(tmp_path / "repo", "env/prod.yaml", head_overlay)
    root = tmp_path / "repo"
    result = meshc(
        "diff", str(root / "mesh.yaml"), "--base", "HEAD", "--overlay", str(root / "env/prod.yaml")
    )
    assert result.returncode == 0, result.stderr
    assert "reviews: v1 10% → 0%, v3 90% → 100%" in result.stdout, result.stdout
    same = meshc("diff", str(root / "mesh.yaml"), "--base", "HEAD")
    assert "reviews" not in same.stdout  # without the overlay, nothing changed


def test_a_big_overlay_merges_in_linear_time(tmp_path: Path) -> None:
    """Thousands of merged and added services: no quadratic bookkeeping of origins (was 8.5 s)."""
    n = 3000
    services = [{"name": f"s{i}", "ports": [{"port": 8080, "protocol": "http"}]} for i in range(n)]
    base = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "x"},
        "spec": {"services": services},
    }
    overlay = {
        "spec": {
            "services": [{"name": f"s{i}", "team": "b"} for i in range(n)]
            + [{"name": f"new{i}", "$patch": "add"} for i in range(n)]
        }
    }
    spec = _write(tmp_path, "mesh.yaml", yaml.safe_dump(base))
    start = time.perf_counter()
    loaded = load_spec(spec, [_write(tmp_path, "o.yaml", yaml.safe_dump(overlay))])
    assert time.perf_counter() - start < 3
    assert len(loaded.data["spec"]["services"]) == 2 * n
    assert loaded.source.position(("spec", "services", n + 5, "name"))[0].endswith("o.yaml")
