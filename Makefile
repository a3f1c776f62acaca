# GazeCXR: the two commands of the README (`make demo`, `make test`) do all set-up themselves.
# The virtual environment is (re)installed only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# uv when it can (pip's index settings passed on; the same versions), else pip: tools/install.py
INSTALL := $(PY) tools/install.py
DEMO_OUT ?= demo_out

.PHONY: demo demo-quick test test-fast lint bench browser-deps clean help anatomy-default

help:
	@echo "make demo    - install (once) and run the end-to-end demo on the synthetic MIMIC-Eye cohort"
	@echo "make test    - install (once, with dev extras) and run the whole test suite"
	@echo "make lint    - ruff"
	@echo "make bench   - benchmarks under benchmarks/ (writes benchmarks/results/*.json)"
	@echo "make anatomy-default - retrain the shipped anatomy localiser (needs ../shared/data/real_cxr_lungs)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime install: package + evaluation, LLM and viewer extras.
$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(INSTALL) '.[eval,llm,viewer]'
	@touch $@

# Developer install: adds pytest, ruff, playwright.
$(VENV)/.stamp-dev: $(VENV)/.stamp-run
	$(INSTALL) '.[dev]'
	@touch $@

demo: $(VENV)/.stamp-run
	$(VENV)/bin/gazecxr demo --out $(DEMO_OUT)

demo-quick: $(VENV)/.stamp-run
	$(VENV)/bin/gazecxr demo --out $(DEMO_OUT) --quick

# Headless Chromium for the browser tests (Debian packages); skipped with a message when not root.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium + chromium-driver (Debian) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	else echo "chromium not found and not root: browser tests will be skipped"; fi

test: $(VENV)/.stamp-dev browser-deps
	$(PY) -m pytest -q

test-fast: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools

bench: $(VENV)/.stamp-run
	$(PY) benchmarks/run_all.py

# The shipped anatomy localiser (docs/anatomy.md is its model card): synthetic cohorts read mostly
# in the EyeGaze session (so most images have the 17 boxes), drawn at the generator's default size
# and at the demo's and the ablation's lower ones (size:seed:studies), and the real lung boxes of the
# shared development set. Reproducible: same seeds, same files -> the same weights on the same
# machine type.
ANATOMY_COHORTS ?= 512:11:200 256:13:100 192:12:100
ANATOMY_BUILD ?= build/anatomy-cohort
REAL_LUNGS ?= ../shared/data/real_cxr_lungs/lung_boxes_coco.json
anatomy-default: $(VENV)/.stamp-run
	@for spec in $(ANATOMY_COHORTS); do \
	  set -- $$(echo $$spec | tr : ' '); \
	  $(VENV)/bin/gazecxr synth $(ANATOMY_BUILD)-$$1 --image-size $$1 --seed $$2 --studies $$3 \
	    --overwrite --set readers.eyegaze_fraction=0.9 || exit 1; \
	done
	$(VENV)/bin/gazecxr anatomy train \
	  $(foreach spec,$(ANATOMY_COHORTS),--data $(ANATOMY_BUILD)-$(word 1,$(subst :, ,$(spec)))) \
	  --coco $(REAL_LUNGS) --out src/gazecxr/anatomy/default

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
