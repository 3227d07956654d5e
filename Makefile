# The README's commands. Each creates .venv and installs requirements.txt when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-requirements

# STEP=1..4 picks a step folder; the default is the highest one that exists.
STEP_DIRS := $(sort $(wildcard step[0-9]_*))
STEP_DIR  := $(if $(STEP),$(wildcard step$(STEP)_*),$(lastword $(STEP_DIRS)))

.PHONY: install run test unit lint exercise check hint watch notebooks fuzz bench

install: $(STAMP)

# uv installs requirements.txt in seconds where pip takes minutes: the uv on PATH if there is
# one, otherwise one that pip puts in .venv/uv. The venv is made without pip (ensurepip alone
# takes 3 to 15 s here) and uv adds pip to it, so `pip install` works in it as usual.
UV_VERSION  := 0.13.9
PIP_VERSION := 26.3
UV := $(or $(shell command -v uv 2>/dev/null),$(VENV)/uv/bin/uv)

# `make run` needs only the app's packages, requirements.txt down to its "# Tests and tools"
# line: a third of the download, so that a fresh clone answers sooner. The rest comes with the
# first target that needs it.
APP_STAMP := $(VENV)/.installed-app-requirements

$(APP_STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(UV) || $(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(VENV)/uv uv==$(UV_VERSION)
	sed '/^# Tests and tools/q' requirements.txt > $(VENV)/app-requirements.txt
	$(UV) pip install --quiet --python $(BIN)/python pip==$(PIP_VERSION) -r $(VENV)/app-requirements.txt
	touch $@

$(STAMP): $(APP_STAMP)
	$(UV) pip install --quiet --python $(BIN)/python -r requirements.txt
	touch $@

# PORT=5001 serves on another port (5000 is taken on many Macs); so does FLASK_RUN_PORT.
run: $(APP_STAMP)
	@test -n "$(STEP_DIR)" || { echo "No step folder for STEP=$(STEP)"; exit 2; }
	cd $(STEP_DIR) && ../$(BIN)/flask run $(if $(PORT),--port $(PORT))

# Compiled modules are cached (__pycache__/, git-ignored) even where the shell says not to
# (PYTHONDONTWRITEBYTECODE): otherwise every pytest process, and the suite starts a few dozen,
# compiles the steps and rewrites the tests' asserts again, more than a second each.
test unit: export PYTHONDONTWRITEBYTECODE :=

# Two workers (pytest-xdist): much of the suite waits on servers, kernels and subprocesses.
# Each module on one worker, the longest first (tests/scheduling.py).
test: $(STAMP) lint
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .

# The fast loop: everything but real servers (flask run, PostgreSQL), notebooks, exercise
# round trips, fuzzing and load. Two workers here too: on 2 cores, less than one alone takes.
unit: $(STAMP)
	$(BIN)/pytest -n 2 -m "not server and not postgresql and not notebook and not exercises and not fuzz and not load"

# Exercises (see "Doing the exercises" in README.md). STEP=1..4 is required. They speak Korean
# under a Korean locale, or when asked on the command line (`make check STEP=1 LANG=ko`): then
# LANG must win over an LC_ALL or LC_MESSAGES of the shell, so it goes on as EXERCISES_LANG.
EXERCISES := $(if $(filter command line,$(origin LANG)),EXERCISES_LANG=$(LANG) )$(BIN)/python tools/exercises.py

exercise: $(STAMP)
	$(EXERCISES) new $(STEP)

# `check` and `hint` say what is wrong themselves: make's "*** [Makefile:N: check] Error 1"
# after that would read like a crash. So when they fail, the recipe stops make with SIGINT,
# which make and the shell report with no banner, and exits 0 so make adds none (after make's
# SIGINT handler has begun to wait for it: exiting sooner races make's own wait): `make check`
# still fails (status 130) for a script. Where make ignores SIGINT (a job a script starts with
# `&` inherits that), the signal would do nothing and make would succeed, so there the recipe
# fails as usual, banner and all (make's status 2). `python tools/exercises.py check N` gives
# the tool's own status: 1 while something is left to do, 2 without a workspace.
QUIETLY_FAIL = ignored=$$(ps -o sigignore= -p $$PPID 2>/dev/null | tr -d ' '); \
	if [ -n "$$ignored" ] && [ $$(( 0x$$ignored & 2 )) -eq 0 ]; then kill -INT $$PPID; sleep 0.5; exit 0; fi; \
	exit 1

check: $(STAMP)
	@$(EXERCISES) check $(STEP) || { $(QUIETLY_FAIL); }

hint: $(STAMP)
	@$(EXERCISES) hint $(STEP) || { $(QUIETLY_FAIL); }

# `check` again each time a file of the workspace changes; Ctrl-C stops it.
watch: $(STAMP)
	@$(EXERCISES) watch $(STEP)

# JupyterLab on notebooks/, for the instructor.
notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# Many more random requests than `make test` sends (see tests/test_fuzz.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/test_fuzz.py

# What authentication costs per request; writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

# The README's picture of step 4's page (step4_sessions/browser.png), taken by the browser tests.
.PHONY: screenshot
screenshot: $(STAMP)
	SCREENSHOT=step4_sessions/browser.png $(BIN)/pytest -q tests/test_browser.py -k registers_logs_in
