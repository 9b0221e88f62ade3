# The two commands: `make run` starts the whole stack locally, `make test` passes the suite.
# Both set everything up on a fresh machine first (venv, pinned packages, ffmpeg; chromium for the tests).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Test processes (pytest-xdist); `make test TEST_WORKERS=0` runs the suite in one process.
TEST_WORKERS ?= 2
STAMP := $(VENV)/.requirements-installed

.PHONY: run test test-fast bench lint deploy canary setup ffmpeg nodejs chromium clean

# YTDLP_VERSION=<release|latest|nightly> make run: the workers run that yt-dlp (docs/sites.md).
run: setup
	$(PY) -m infra.local

test: setup chromium
	$(PY) -m pytest -n $(TEST_WORKERS)

test-fast: setup chromium
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow"

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/cfn-lint template.yaml

# One real job through a running stack (local or BASE_URL), never part of the tests: make canary URL=... API_KEY=...
canary: $(STAMP)
	URL="$(URL)" TASK="$(TASK)" BASE_URL="$(BASE_URL)" API_KEY="$(API_KEY)" $(PY) -m infra.canary

# Not `setup`: deploying needs the packages, not ffmpeg (the worker image brings its own).
deploy: $(STAMP)
	bash infra/deploy.sh

setup: $(STAMP) ffmpeg nodejs

# The local stack's disk-backed DynamoDB and S3 (dynalite, s3rver), pinned in package-lock.json.
NODE_STAMP := node_modules/.installed
nodejs: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Node.js with apt-get"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; \
		else \
			echo "Node.js and npm are required for the local stack: install them (e.g. 'sudo apt-get install nodejs npm') and run this again." >&2; \
			exit 1; \
		fi; \
	fi
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

# ffmpeg comes from the system: installed through apt when missing and running as root, otherwise explained.
ffmpeg:
	@if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing ffmpeg with apt-get"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ffmpeg; \
		else \
			echo "ffmpeg and ffprobe are required: install them (e.g. 'sudo apt-get install ffmpeg' or 'brew install ffmpeg') and run this again." >&2; \
			exit 1; \
		fi; \
	fi

# The web page's browser tests drive the system Chromium through Playwright (no browser download): Debian's
# `chromium` package, installed through apt when missing and running as root, otherwise explained.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium with apt-get"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo "chromium is required by the web page's tests: install it (e.g. 'sudo apt-get install chromium') and run this again." >&2; \
			exit 1; \
		fi; \
	fi

# Keeps .local/state (the local stack's keys, tasks and files): see the README to start from empty.
clean:
	rm -rf $(VENV) node_modules .local/logs .pytest_cache
