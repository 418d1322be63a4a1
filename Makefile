# Two commands for a fresh machine: `make demo` (set up .venv, run the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision are pinned to the pair that installs (from local disk) and imports here;
# override TORCH for another platform, e.g. make TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
MINI_TASKS := caption retrieval vqa nlvr

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

# The mini recipes end to end, from scratch in runs/mini: corpus, pretraining, each fine-tune
# and its evaluation, then the learning figures.
demo: setup
	rm -rf runs/mini
	$(BIN)/blipctl data synth mini/corpus
	$(BIN)/blipctl pretrain mini/pretrain
	set -e; for t in $(MINI_TASKS); do $(BIN)/blipctl finetune mini/$$t; $(BIN)/blipctl eval mini/eval_$$t; done
	$(BIN)/python scripts/mini_summary.py runs/mini

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/gen_completions.py --check

completions: setup
	$(BIN)/python scripts/gen_completions.py

clean:
	rm -rf runs build *.egg-info
