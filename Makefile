# linegate developer tasks. `make test` is what CI runs (see .ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck services venv bench clean test-compiled test-pure test-cluster demo fuzz

$(PY):
	@echo "=== venv: creating $(VENV) (the first build takes about a minute) ==="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

# Reinstall (and rebuild native/) whenever the build inputs change.
$(STAMP): $(PY) pyproject.toml setup.py $(wildcard native/*.pyx native/*.pxd)
	# --no-build-isolation builds sdists against this venv, so their build requirements go in first:
	# Cython for native/, cffi for python-qpid-proton (PyPI has only its sdist; without cffi at
	# build time it installs without its C module and fails on import).
	@echo "=== venv: build requirements (Cython, cffi) ==="
	$(PY) -m pip install -q "Cython>=3.0" "setuptools>=68" wheel "cffi>=1.0"
	@echo "=== venv: linegate and its dependencies; compiling native/ (the longest step) ==="
	$(PY) -m pip install -q --no-build-isolation -e ".[test,fast]"
	# pip may reuse a proton wheel it cached from a build without cffi (pure Python, no C module):
	# rebuild it from source, past the cache, when it does not import.
	$(PY) -c "import proton" 2>/dev/null || \
		$(PY) -m pip install -q --no-build-isolation --no-cache-dir --force-reinstall --no-deps python-qpid-proton
	$(PY) -c "import proton"
	touch $(STAMP)
	@echo "=== venv: ready ==="

venv: $(STAMP)

services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-browser.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

test-compiled: venv services
	@echo "=== pytest: compiled native extensions ==="
	$(PY) -c "import native, sys; print('native.available() =', native.available()); sys.exit(0 if native.available() else 1)"
	$(PY) -m pytest

test-pure: venv
	@echo "=== pytest: pure-Python twins (LINEGATE_PURE_PYTHON=1) ==="
	LINEGATE_PURE_PYTHON=1 $(PY) -m pytest -m "not broker and not mqtt" tests/native tests/protocols

test: lint typecheck test-compiled test-pure

# Only the tests on a three-node RabbitMQ cluster started from the installed rabbitmq-server
# (marker `cluster`; test-compiled runs them too, as part of the whole suite).
test-cluster: venv
	$(PY) -m pytest -m cluster

# The default simulated line (the whole SMT line) with the gateway against it; DEMO_ARGS="--boards 50 --amqp amqp://guest:guest@127.0.0.1:5672/"
demo: venv
	$(VENV)/bin/linegate demo $(DEMO_ARGS)

# The long fuzz campaign (fuzz/runner.py): every network decoder under atheris, FUZZ_RUNS inputs
# each (default 1,000,000), one decoder process after another, then a table; not part of `make
# test` (tests/test_fuzz_harnesses.py runs each harness briefly). FUZZ_RUNS=2000 is a smoke run;
# FUZZ_ONLY=hermes-framer,http-api picks decoders. Crashing inputs land in build/fuzz/<decoder>/.
FUZZ_RUNS ?= 1000000
fuzz: venv
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q --no-build-isolation -e ".[test,fast,fuzz]"
	FUZZ_RUNS=$(FUZZ_RUNS) $(PY) -m fuzz.runner

bench: venv services
	$(PY) bench/run_all.py

# The soak (bench/soak.py): 100 simulated machines through `linegate run` for 10 minutes, the
# gateway's RSS over time. Not part of `make test` or `make bench`.
# SOAK_ARGS="--seconds 120 --machines 50 --time-scale 40 --json soak.json"
.PHONY: soak
soak: venv
	bash scripts/ensure-services.sh
	$(PY) bench/soak.py $(SOAK_ARGS)

# The factory benchmark (bench/factory.py): N simulated lines x M machines, one `linegate run`
# per line, into a three-node RabbitMQ cluster it starts itself; docs/deployment.md has figures.
# Not part of `make test` or `make bench`. FACTORY_ARGS="--lines 10 --machines 10 --seconds 120 --kill-node"
FACTORY_ARGS ?= --lines 2 --machines 5 --seconds 60 --kill-node
.PHONY: factory
factory: venv
	$(PY) bench/factory.py $(FACTORY_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f native/*.c native/*.so native/*.html
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
