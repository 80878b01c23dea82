# Two entry points: `make demo` (search + finalize on the built-in digits) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench gpu-check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: install  ## the demo study starts afresh each time
	rm -rf studies/demo studies/demo.db
	$(BIN)/automl search --study demo --trials 12 --epochs 4
	$(BIN)/automl finalize --study demo

# Test processes (pytest-xdist): auto is one per usable core, at most 4 (tests/conftest.py);
# TEST_WORKERS=0 runs every test in this one.
TEST_WORKERS ?= auto

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations 10

bench: install
	$(BIN)/python benchmarks/epoch_time.py

gpu-check: install  ## the CUDA tests and the GPU epoch rows; one summary line (exit 0 without CUDA)
	@$(BIN)/python benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) studies/cache
