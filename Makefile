# Two commands for a fresh machine: `make demo` (set up .venv, run the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision are pinned to the pair that installs (from local disk) and imports here;
# override TORCH for another platform, e.g. make TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= runs/demo

.PHONY: setup demo test lint completions clean

setup: $(VENV)/.deps-installed
	@$(BIN)/python -c "import blipctl, sys; sys.exit(not blipctl.__file__.startswith('$(CURDIR)/'))" \
		2>/dev/null || $(BIN)/pip install -q --no-deps -e .

$(VENV)/.deps-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	DS_BUILD_OPS=0 $(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/blipctl data synth mini/corpus output_dir=$(DEMO_DIR)/corpus

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/gen_completions.py --check

completions: setup
	$(BIN)/python scripts/gen_completions.py

clean:
	rm -rf runs build *.egg-info
