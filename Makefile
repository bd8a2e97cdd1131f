# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv if it is missing and installs the package into it.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rnnkit-installed
PYTEST_ARGS ?=

.PHONY: install browser demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build these machines hold (an unpinned torch pulls CUDA).
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	@# librosa (the audio tests' reference) compiles its numba kernels at first use, about 10 s, cached in the venv:
	@# done once here, not inside every fresh venv's first test run
	$(PY) -c "import importlib.util, numpy; importlib.util.find_spec('librosa') and __import__('librosa').feature.mfcc(y=numpy.zeros(4096), sr=8000)"
	touch $(STAMP)

install: $(STAMP)

# the browser tests (tests/report/test_browser.py) drive the system Chromium with its chromedriver; installed here
# where missing, only with apt-get and as root; where that cannot be done the tests skip and say why
browser:
	@if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "make: chromium and chromium-driver could not be installed; the browser tests will skip"; \
	else echo "make: no chromium/chromedriver (and no apt-get as root to install them); the browser tests will skip"; fi

demo: install
	$(VENV)/bin/rnnkit demo

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/layers.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
