"""Diagnostics from the models and rules point at the CUE source lines (CueSourceMap)."""

from __future__ import annotations

from pathlib import Path

from cue_helpers import _pin_wasm, line_of, meshc, needs_cue, write

from meshc.spec.cue.spec import CueSourceMap

__all__ = ["_pin_wasm"]

MAP_STYLE = """\
package mesh

#Svc: {
	name: string
	account: "sa-\\(name)"
	ports: *[{port: 8080, protocol: "http"}] | [...]
	...
}

_services: [Name=string]: #Svc & {name: Name}
_services: {
	web: {
		calls: [
			{service: "api"},
			{service: "nope"},
		]
	}
	api: {}
	Bad_Name: {}
}

apiVersion: "meshc.dev/v1alpha1"
kind:       "Mesh"
metadata: name: "demo"
spec: {
	defaults: namespace: "demo"
	services: [for s in _services {s}]
}
"""


@needs_cue
def test_rule_diagnostics_point_into_a_map_style_cue_spec(tmp_path: Path) -> None:
    write(tmp_path / "mesh.cue", MAP_STYLE)
    result = meshc("validate", "mesh.cue", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  ")]
    unknown = line_of(MAP_STYLE, '{service: "nope"}')
    bad = line_of(MAP_STYLE, "Bad_Name: {}")
    # the call is found under the map entry named like the service (the list is a comprehension)
    assert f"mesh.cue:{unknown}:5: error MC101: service 'web' calls unknown service 'nope'" in lines
    # a name written as the entry's label; an account computed by #Svc: the service's entry
    assert any(line.startswith(f"mesh.cue:{bad}:2: error MC103: service name 'Bad_Name'") for line in lines)
    assert any(
        line.startswith(f"mesh.cue:{bad}:2: error MC103: service account 'sa-Bad_Name'") for line in lines
    )


LIST_STYLE = """\
apiVersion: "meshc.dev/v1alpha1"
kind: "Mesh"
metadata: name: "demo"
spec: services: [
	#Svc & {name: "a", ports: [{port: 80, protocol: "http"}]},
	#Svc & {
		name: "b"
		versions: [{name: "v1"}]
		traffic: split: {v1: 100, v9: 0}
	},
]
#Svc: {name: string, namespace: *"demo" | string, ...}
"""


def test_positions_of_written_fields_defaults_and_ancestors() -> None:
    data = {
        "apiVersion": "meshc.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "demo"},
        "spec": {
            "services": [
                {"name": "a", "namespace": "demo", "ports": [{"port": 80, "protocol": "http"}]},
                {
                    "name": "b",
                    "namespace": "demo",
                    "versions": [{"name": "v1"}],
                    "traffic": {"split": {"v1": 100}},
                },
            ]
        },
    }
    source = CueSourceMap([("mesh.cue", LIST_STYLE)], data)
    assert source.position(("spec", "services", 1, "traffic", "split", "v9")) == ("mesh.cue", 9, 29)
    assert source.position(("spec", "services", 0, "ports", 0, "port")) == ("mesh.cue", 5, 30)
    # a default from #Svc is not written in the service: its element
    assert source.position(("spec", "services", 1, "namespace")) == ("mesh.cue", 6, 2)
    assert source.position(("metadata", "name")) == ("mesh.cue", 3, 11)
    assert source.position(("nothing",)) == ("mesh.cue", 1, 1)
    assert source.display_name == "mesh.cue"
    assert source.path_at("mesh.cue", 9, 30) == ("spec", "services", 1, "traffic", "split", "v9")


def test_several_files() -> None:
    a = 'package x\napiVersion: "meshc.dev/v1alpha1"\nkind: "Mesh"\n'
    b = 'package x\nmetadata: name: "demo"\nspec: {\n\tsecurity: mtls: "STRICT"\n}\n'
    source = CueSourceMap([("d/a.cue", a), ("d/b.cue", b)], {})
    assert source.position(("kind",)) == ("d/a.cue", 3, 1)
    assert source.position(("spec", "security", "mtls", "deeper")) == ("d/b.cue", 4, 12)
    assert [f.name for f in source.files] == ["d/a.cue", "d/b.cue"]
    assert source.files[1].locate(("spec",)) == (3, 1)
