# The two commands a newcomer needs: `make run` and `make test`. Everything else is what they call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ASSETS := federation/static/govuk/govuk-frontend.min.css
# make test runs the suite in this many processes (pytest-xdist), a test file to each at a time: on 2 cores, 2
# took the two passes from 377 s to 240 s. Each process starts its own Redis, Chromium and servers. The files go
# out in the order tests/conftest.py's RUN_FIRST sets (--no-loadscope-reorder keeps it).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: run test test-xmlsec1 check lint bench chaos install assets keys keys-if-missing clean translations

# uv installs the project and its test tools into the virtualenv: on 2 cores, 7 s where pip took 14 s.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(ASSETS): node_modules/.installed scripts/copy-assets.mjs
	npm run --silent build

install: $(BIN)/.installed

assets: $(ASSETS)  ## copy GOV.UK Frontend's compiled assets into federation/static/govuk

keys: install  ## regenerate the federation's keys and certificates
	$(BIN)/python -m keys --force

run: install assets  ## run the whole federation on 127.0.0.1 (behind nginx when installed) and print the start URL
	$(BIN)/python -m launcher.localrun

lint: install  ## ruff, ruff format --check and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint  ## the edit loop, under a minute: lint, types and the tests that start no server or browser (needs redis-server)
	$(BIN)/python -m pytest -q -m "not live"

test: lint assets  ## lint, type-check and run the whole test suite (needs redis-server, chromium, xmlsec1 and nginx)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)
	$(MAKE) --no-print-directory test-xmlsec1

# Again with pysaml2's default crypto path (xmlsec1): every test that signs, verifies, encrypts or decrypts a
# message, or reads what a failing backend logs. Left to the first pass: the security tests whose subject is not
# the crypto (nginx in front, the access log, HTTP methods and parameters, Redis and matching faults, the
# store's contents), which ran the same under both backends.
XMLSEC1_TESTS := tests/security/test_bounded_work.py tests/security/test_content_encryption.py \
	tests/security/test_fuzz.py tests/security/test_idp_response_attacks.py \
	tests/security/test_matching_service_answers.py tests/security/test_personal_data.py \
	tests/security/test_xml_entry_points.py tests/federation/test_crypto.py tests/interop

# Test by test (--dist load), not file by file: the attack catalogue is most of this pass, and one worker alone
# took 59 of its 62 s; its module's federation then starts once in each worker. Each attack's journey up to the
# hub's ACS is setup and runs in process (capture() in tests/security/conftest.py): the pass, 51 s -> 41 s.
test-xmlsec1: install assets
	CRYPTO_BACKEND=xmlsec1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load $(XMLSEC1_TESTS)

bench: install assets keys-if-missing  ## measure journeys per second and hub CPU for both crypto backends
	$(BIN)/python -m bench --journeys 200 --concurrency 16 --soak 10000
	$(BIN)/python -m bench --journeys 200 --concurrency 16 --backends inprocess --hub-cpus 1 --json bench/results-hub-own-cpu.json
	$(BIN)/python -m bench --journeys 200 --concurrency 16 --backends inprocess --think-ms 250 --json bench/results-paced.json
	$(BIN)/python -m bench.server_floor

chaos: install assets keys-if-missing  ## faults under load (16 journeys in flight) on each store: about 5 minutes on 2 cores
	$(BIN)/python -m bench.chaos --store all

translations: install  ## extract the pages' words and update each app's Welsh catalogue, then list what is left to translate
	$(BIN)/python -m federation.web.catalogues

keys-if-missing: install
	$(BIN)/python -m keys

clean:
	rm -rf $(VENV) node_modules federation/static/govuk keys/generated .pytest_cache
