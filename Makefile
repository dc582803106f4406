# vae-course: two commands for a fresh machine.
#   make lab   -> set up .venv (once) and open the course in JupyterLab
#   make test  -> set up .venv (once) and run the whole test suite
# Both are scripts/course.py, which Windows users run without make (`py scripts\course.py lab|test`).
# It reuses an existing .venv and sets up again only when the lock, pyproject.toml or the torch build change.
#   make lab TORCH=cpu   -> Linux without an NVIDIA GPU: PyTorch's CPU build, no CUDA libraries (much smaller)

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
COURSE_ARGS := $(if $(TORCH),--torch $(TORCH),)

.PHONY: setup browser book lab test test-fast test-e2e student-notebooks lock benchmark clean

setup:
	$(PYTHON) scripts/course.py $(COURSE_ARGS) setup

lab:
	$(PYTHON) scripts/course.py $(COURSE_ARGS) lab

# All cores (pytest-xdist); the browser installs (apt, where needed) while pip sets up .venv.
test:
	$(PYTHON) scripts/course.py $(COURSE_ARGS) test -- $(PYTEST_ARGS)

browser:
	$(PYTHON) scripts/course.py browser

# Without the browser test: quick feedback while editing.
test-fast:
	$(PYTHON) scripts/course.py $(COURSE_ARGS) test-fast -- $(PYTEST_ARGS)

# The course as a static website from solutions/ (stored outputs, no solution code): build/book/html/index.html
book: setup
	$(PY) -m vae_course.book

# Regenerate notebooks/ from solutions/ (the source of truth).
student-notebooks: setup
	$(VENV)/bin/vae-course make-student solutions notebooks

# Re-resolve requirements.lock and requirements-lab.lock for every platform (uv), then binder/ from them.
lock: setup
	$(PY) scripts/lock.py

benchmark: setup
	$(PY) benchmarks/benchmark_vae.py

clean:
	rm -rf $(VENV) .pytest_cache

# Only the JupyterLab browser test (see docs/e2e.md).
test-e2e: setup browser
	$(PY) -m pytest tests/e2e -m e2e -s
