# vae-course: two commands for a fresh machine.
#   make lab   -> set up .venv (once) and open the course in JupyterLab
#   make test  -> set up .venv (once) and run the whole test suite
# Both reuse an existing .venv; set-up re-runs only when requirements.lock or
# pyproject.toml change.

# Independent set-up steps (pip for .venv, apt for the browser) run in parallel.
MAKEFLAGS += --jobs=2

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vae-course-installed
PYTEST_ARGS ?=

.PHONY: setup browser book lab test test-fast test-e2e student-notebooks lock benchmark clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@# Byte-compile on all cores instead of pip's one-file-at-a-time step (measured: 209 s -> 143 + 42 s).
	@# Like pip, skip files that do not compile on this Python (torch ships 3.12-only test files).
	$(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	@touch $(STAMP)

# As root (e.g. in a container) Jupyter refuses to start without --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab $(LAB_ARGS) notebooks/00_welcome.ipynb

# Both (all) cores: pytest-xdist workers; --dist loadscope keeps each notebook's cells on one worker, in order;
# conftest.py orders the scopes longest first (--no-loadscope-reorder: keep that order).
PARALLEL ?= -n auto --dist loadscope --no-loadscope-reorder

# The browser (apt) installs while pip sets up .venv: `make test` runs both at once.
test: setup browser
	$(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS)

browser:
	bash scripts/install_browser.sh

# Without the browser test: quick feedback while editing.
test-fast: setup
	$(PY) -m pytest $(PARALLEL) -m "not e2e" $(PYTEST_ARGS)

# The course as a static website from solutions/ (stored outputs, no solution code): build/book/html/index.html
book: setup
	$(PY) -m vae_course.book

# Regenerate notebooks/ from solutions/ (the source of truth).
student-notebooks: setup
	$(VENV)/bin/vae-course make-student solutions notebooks

lock: setup
	{ echo "# Exact versions the course is tested with (Python 3.11, Linux x86_64)."; \
	  echo "# Regenerate: make lock"; $(PY) -m pip freeze --exclude-editable; } > requirements.lock
	$(PY) scripts/binder_requirements.py

benchmark: setup
	$(PY) benchmarks/benchmark_vae.py

clean:
	rm -rf $(VENV) .pytest_cache

# Only the JupyterLab browser test (see docs/e2e.md).
test-e2e: setup browser
	$(PY) -m pytest tests/e2e -m e2e -s
