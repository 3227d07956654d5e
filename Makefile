# The README's commands. Each creates .venv and installs requirements.txt when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-requirements

# STEP=1..4 picks a step folder; the default is the highest one that exists.
STEP_DIRS := $(sort $(wildcard step[0-9]_*))
STEP_DIR  := $(if $(STEP),$(wildcard step$(STEP)_*),$(lastword $(STEP_DIRS)))

.PHONY: install run test lint

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(STAMP)
	@test -n "$(STEP_DIR)" || { echo "No step folder for STEP=$(STEP)"; exit 2; }
	cd $(STEP_DIR) && ../$(BIN)/flask run

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
