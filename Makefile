# The two commands a newcomer needs: `make run` and `make test`. Everything else is what they call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install keys clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

keys: install  ## regenerate the federation's keys and certificates
	$(BIN)/python -m keys --force

run: install  ## run the whole federation on 127.0.0.1 and print the start URL
	$(BIN)/python -m federation.localrun

test: install  ## run the whole test suite (needs redis-server on PATH)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) keys/generated .pytest_cache
