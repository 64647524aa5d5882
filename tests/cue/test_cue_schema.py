"""The CUE definitions are generated from the spec's JSON Schema, and the committed copy is current.

Regenerate with `python -m meshc.spec.cue.generate` after changing the models.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from cue_helpers import REPO

from meshc.spec.cue import generate
from meshc.spec.cue.generate import MISSING, Unsupported


def test_committed_definitions_are_current() -> None:
    stale = generate.stale()
    assert not stale, f"{stale} out of date: run `python -m meshc.spec.cue.generate`"


def test_check_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meshc.spec.cue.generate", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_module_layout() -> None:
    assert (generate.MODULE_DIR / "cue.mod" / "module.cue").read_text() == 'module: "meshc.dev/spec"\n'
    text = generate.SCHEMA_CUE.read_text()
    assert "\npackage meshc\n" in text
    assert "\n#Mesh: {\n" in text and "\n#Service: {\n" in text


def test_translation() -> None:
    text = generate.generate()
    # closed definitions with bounds, enums as disjunctions, patterns as =~, no defaults
    assert "\tport: int & >=1 & <=65535\n" in text
    assert '\tmtls?: "STRICT" | "PERMISSIVE" | "DISABLE"\n' in text
    assert '=~#"^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"#' in text
    assert '\tname: string & !=""\n' in text
    assert "\ttraffic?: #Traffic | null\n" in text
    code = "".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    assert "*" not in re.sub(r'#"[^"]*"#', "", code)  # no default markers (regexes may hold `*`)
    # maps whose keys follow a pattern (JSON Schema propertyNames) as closed pattern constraints
    assert '\t\t[=~#"^[^.\\[\\]\\s]+(\\.[^.\\[\\]\\s]+)*$"#]: [...string & !=""] & list.MinItems(1)\n' in text
    assert '// Default: "STRICT" (applied by meshc, not by CUE).' in text
    # maps as pattern constraints
    assert "\tselector?: {[string]: string}\n" in text
    # required fields: regular when their type alone is not concrete, else a presence check
    assert "\tmetadata: #Metadata\n" in text
    assert f'\tif spec == _|_ {{"{MISSING}spec": string}}\n' in text
    assert f'\tif hosts == _|_ {{"{MISSING}hosts": string}}\n' in text
    assert f'\tif apiVersion == _|_ {{"{MISSING}apiVersion": string}}\n' in text


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {"a": {"type": "string", "format": "email", "contentEncoding": "x"}},
        },
        {
            "type": "object",
            "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "string", "minLength": 2}]}},
        },
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}},
        {"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
    ],
)
def test_unsupported_keywords_fail_loudly(schema: dict) -> None:
    with pytest.raises(Unsupported):
        generate.generate(schema)


def test_labels_and_raw_strings() -> None:
    text = generate.generate(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "_hidden": {"type": "string"},
                "if": {"type": "string", "pattern": '^a"#b$'},
                "x-y": {"type": "integer", "exclusiveMinimum": 0},
            },
            "required": ["x-y"],
        }
    )
    assert '\t"_hidden"?: string\n' in text  # quoted: a regular field, not a hidden one
    assert '\t"if"?: string & =~##"^a"#b$"##\n' in text
    assert '\t"x-y": int & >0\n' in text
