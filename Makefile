# Two commands for a fresh machine: `make demo` (set up .venv, run the main job) and `make test`.
PYTHON ?= python3
# bash: the demo runs steps side by side as background jobs
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision are pinned to the pair that installs (from local disk) and imports here;
# override TORCH for another platform, e.g. make TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
MINI_TASKS := caption retrieval vqa nlvr

.PHONY: setup demo demo-tasks demo-blip2 demo-instructblip test lint completions clean

setup: $(VENV)/.deps-installed
	@$(BIN)/python -c "import blipctl, sys; sys.exit(not blipctl.__file__.startswith('$(CURDIR)/'))" \
		2>/dev/null || $(BIN)/pip install -q --no-deps -e .

$(VENV)/.deps-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	DS_BUILD_OPS=0 $(BIN)/pip install -q -e '.[dev]'
	touch $@

# The main job: BLIP's CapFilt ablation on the mini corpus, from scratch in runs/mini. Pretrain on
# the noisy web set; fine-tune a captioner and a filter on the clean captions; bootstrap the web
# set three ways; pretrain on each result with the same step budget; evaluate all four zero-shot.
# It trains as the mini recipes do (300 pretraining steps, 2 caption epochs, 3 filter epochs);
# to fit 15 minutes on 2 CPU cores it saves each pretraining once, at its end, and runs the three
# pretrainings on bootstrapped sets side by side, as it does each model's two evaluations, one
# thread each (their logs are in runs/mini/logs/ and runs/mini/eval/*/). Same seed, same table:
# every step is deterministic.
CAPFILT := filter captioner both
PRETRAIN := save_every=300
demo: setup
	rm -rf runs/mini
	$(BIN)/blipctl data synth mini/corpus
	$(BIN)/blipctl pretrain mini/pretrain $(PRETRAIN)
	$(BIN)/blipctl finetune mini/caption
	$(BIN)/blipctl finetune mini/retrieval
	$(BIN)/blipctl bootstrap mini/bootstrap output_dir=runs/mini/capfilt/filter captioner.model=null
	$(BIN)/blipctl bootstrap mini/bootstrap output_dir=runs/mini/capfilt/captioner filter.model=null
	$(BIN)/blipctl bootstrap mini/bootstrap output_dir=runs/mini/capfilt/both
	mkdir -p runs/mini/logs; pids=; for v in filter captioner; do OMP_NUM_THREADS=1 $(BIN)/blipctl pretrain mini/pretrain \
		$(PRETRAIN) output_dir=runs/mini/pretrain_$$v "data.train=[../capfilt/$$v/annotations.json]" \
		> runs/mini/logs/pretrain_$$v.log 2>&1 & pids="$$pids $$!"; done; \
	echo "pretraining on the filter-only and captioner-only sets in the background (runs/mini/logs/)"; \
	OMP_NUM_THREADS=1 $(BIN)/blipctl pretrain mini/pretrain $(PRETRAIN) output_dir=runs/mini/pretrain_both \
		"data.train=[../capfilt/both/annotations.json]" || { kill $$(jobs -p); exit 1; }; \
	for p in $$pids; do wait $$p || { cat runs/mini/logs/pretrain_*.log; exit 1; }; done
	set -e; for r in pretrain $(addprefix pretrain_,$(CAPFILT)); do mkdir -p runs/mini/eval/$$r; \
		pids=; for t in retrieval caption; do OMP_NUM_THREADS=1 $(BIN)/blipctl eval mini/eval_$$t --model runs/mini/$$r \
			output_dir=runs/mini/eval/$$r/$$t > runs/mini/eval/$$r/$$t.log 2>&1 & pids="$$pids $$!"; done; \
		for p in $$pids; do wait $$p || { cat runs/mini/eval/$$r/*.log; exit 1; }; done; \
		echo "evaluated runs/mini/$$r zero-shot: runs/mini/eval/$$r/{retrieval,caption}"; done
	$(BIN)/python scripts/capfilt_table.py runs/mini | tee runs/mini/capfilt_table.md

# Every mini fine-tuning task (caption, retrieval, VQA, NLVR2) from the web pretraining, each
# evaluated on the clean test split, then the learning figures.
demo-tasks: setup
	rm -rf runs/mini
	$(BIN)/blipctl data synth mini/corpus
	$(BIN)/blipctl pretrain mini/pretrain
	set -e; for t in $(MINI_TASKS); do $(BIN)/blipctl finetune mini/$$t; $(BIN)/blipctl eval mini/eval_$$t; done
	$(BIN)/python scripts/mini_summary.py runs/mini

# The mini BLIP-2 (in runs/mini): two frozen unimodal models that already know something and a
# small bridge. The mini BLIP pretraining gives the frozen vision tower; a tiny OPT and a tiny
# Flan-T5-style LM learn the corpus's language from its text alone. Stage 1 trains a Q-Former
# (ITC + ITM + ITG) on the clean captions; stage 2 trains it and a projection to prompt each
# frozen LM (and the T5 once more with the paper's random prefix split); "untrained bridge" rows
# stop stage 2 after one step at lr 0. Then zero-shot retrieval, captioning and zero-shot VQA on
# the clean test split. Independent jobs run side by side, one thread each (logs in
# runs/mini/logs/); same seed, same figures.
B2 := OMP_NUM_THREADS=1 $(BIN)/blipctl
BRIDGES := blip2_opt blip2_t5 blip2_t5_split blip2_opt_untrained blip2_t5_untrained
demo-blip2: setup
	rm -rf runs/mini && mkdir -p runs/mini/logs
	$(BIN)/blipctl data synth mini/corpus
	set -e; pids=; for r in pretrain lm_opt lm_t5; do $(B2) pretrain mini/$$r > runs/mini/logs/$$r.log 2>&1 & \
		pids="$$pids $$!"; done; for p in $$pids; do wait $$p || { tail -5 runs/mini/logs/*.log; exit 1; }; done
	$(BIN)/blipctl pretrain mini/blip2_stage1
	set -e; L=runs/mini/logs; $(B2) pretrain mini/blip2_opt > $$L/blip2_opt.log 2>&1 & a=$$!; \
		$(B2) pretrain mini/blip2_t5 > $$L/blip2_t5.log 2>&1 & b=$$!; \
		$(B2) pretrain mini/blip2_t5 output_dir=runs/mini/blip2_t5_split task.prefix_split=random \
			> $$L/blip2_t5_split.log 2>&1 & c=$$!; \
		for k in opt t5; do $(B2) pretrain mini/blip2_$$k output_dir=runs/mini/blip2_$${k}_untrained max_steps=1 \
			optim.lr=0 > $$L/blip2_$${k}_untrained.log 2>&1; done; \
		for p in $$a $$b $$c; do wait $$p || { tail -5 $$L/blip2_*.log; exit 1; }; done
	set -e; $(B2) eval mini/eval_retrieval --model runs/mini/blip2_stage1 \
		output_dir=runs/mini/eval/blip2_stage1_retrieval > runs/mini/logs/eval_retrieval.log 2>&1 & ret=$$!; \
		for m in $(BRIDGES); do pids=; for t in caption vqa; do $(B2) eval mini/eval_blip2_$$t --model runs/mini/$$m \
		output_dir=runs/mini/eval/$${m}_$$t > runs/mini/logs/eval_$${m}_$$t.log 2>&1 & pids="$$pids $$!"; done; \
		for p in $$pids; do wait $$p || { tail -5 runs/mini/logs/eval_$${m}_*.log; exit 1; }; done; \
		echo "evaluated runs/mini/$$m"; done; wait $$ret
	$(BIN)/python scripts/blip2_summary.py runs/mini | tee runs/mini/blip2_table.md

# The mini InstructBLIP (in runs/mini): the mini BLIP-2 with its Flan-T5-style LM (as demo-blip2
# builds it), then instruction tuning on captions and three kinds of questions with the paper's
# templates and square-root mixture, colour questions held out, the Q-Former reading the
# instruction (InstructBLIP); beside it, a control tuned the same way on the captions alone.
# Every model answers the VQA test split zero-shot; the table splits it by question kind; the
# held-out gain is measured on the test and validation splits' colour questions (neither is
# trained on), with paired bootstrap intervals. Independent steps run side by side, one thread
# each (the LM pretrains while the tower and stage 1 do). The paper's ablation, a Q-Former blind
# to the instruction, adds about 3 minutes:
# make demo-instructblip INSTRUCTED="instructblip instructblip_captions instructblip_blind"
INSTRUCTED ?= instructblip instructblip_captions
demo-instructblip: setup
	rm -rf runs/mini && mkdir -p runs/mini/logs
	$(BIN)/blipctl data synth mini/corpus
	set -e; L=runs/mini/logs; $(B2) pretrain mini/lm_t5 > $$L/lm_t5.log 2>&1 & lm=$$!; \
		{ $(B2) pretrain mini/pretrain > $$L/pretrain.log 2>&1 && \
		  $(B2) pretrain mini/blip2_stage1 > $$L/blip2_stage1.log 2>&1; } || { kill $$lm; tail -5 $$L/*.log; exit 1; }; \
		wait $$lm || { tail -5 $$L/lm_t5.log; exit 1; }
	$(BIN)/blipctl pretrain mini/blip2_t5
	set -e; pids=; for r in $(INSTRUCTED); do \
		$(B2) finetune mini/$$r > runs/mini/logs/$$r.log 2>&1 & pids="$$pids $$!"; done; \
		for p in $$pids; do wait $$p || { tail -5 runs/mini/logs/instructblip*.log; exit 1; }; done
	set -e; pids=; for m in blip2_t5 $(patsubst instructblip%,instructblip_t5%,$(INSTRUCTED)); do \
		$(B2) eval mini/eval_blip2_vqa \
		--model runs/mini/$$m output_dir=runs/mini/eval/$${m}_vqa > runs/mini/logs/eval_$${m}_vqa.log 2>&1 & \
		pids="$$pids $$!"; $(B2) eval mini/eval_blip2_vqa --model runs/mini/$$m data.annotations=vqa_val_colour.json \
		output_dir=runs/mini/eval/$${m}_vqa_val_colour > runs/mini/logs/eval_$${m}_vqa_val_colour.log 2>&1 & \
		pids="$$pids $$!"; done; for p in $$pids; do wait $$p || { tail -5 runs/mini/logs/eval_*.log; exit 1; }; done
	$(BIN)/python scripts/instructblip_summary.py runs/mini | tee runs/mini/instructblip_table.md

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/gen_completions.py --check

completions: setup
	$(BIN)/python scripts/gen_completions.py

clean:
	rm -rf runs build *.egg-info
