# nook — two commands matter: `make demo` and `make test`. Both install what is
# missing (apt packages, pipenv, the in-project venv), start the local services
# and do their job; re-running either is fast and safe.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_NOSPIN := 1
export PIPENV_YES := 1
export PIPENV_IGNORE_VIRTUALENVS := 1
export FLASK_APP := jobs.cli
APT_PACKAGES := postgresql-15 postgresql-15-postgis-3 binutils chromium chromium-driver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test install assets system-deps services-up services-down services-status migrate env lint clean deploy-venv

demo: install ## Run nook end to end: services, schema, demo data, jobs, API on :5000
	$(BIN)/python -m jobs.local.demo

test: install ## Run lint and the whole suite (starts its own services)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

ASSETS := app/static/vendor/.built

install: system-deps $(VENV)/.synced $(ASSETS)

# The map page's browser libraries: pinned in package.json/package-lock.json, installed with npm ci,
# and copied next to the page (never committed).
assets: $(ASSETS)

$(ASSETS): package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf app/static/vendor && mkdir -p app/static/vendor/images
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css app/static/vendor/
	cp node_modules/leaflet/dist/images/*.png app/static/vendor/images/
	cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js app/static/vendor/leaflet-geoman.js
	cp node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css app/static/vendor/
	@touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.synced: Pipfile.lock
	@$(PYTHON) -m pipenv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet pipenv
	$(PYTHON) -m pipenv sync --dev
	@touch $@

services-up: install ## Start PostgreSQL + PostGIS and moto (idempotent)
	$(BIN)/python -m jobs.local.services up

services-down: ## Stop the local services
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m jobs.local.services down; fi

services-status:
	$(BIN)/python -m jobs.local.services status

migrate: services-up ## Apply Alembic migrations to the local database
	eval "$$($(BIN)/python -m jobs.local.services env)" && $(BIN)/flask db upgrade

env: ## Print exports pointing a shell at the local services
	@$(BIN)/python -m jobs.local.services env
	@echo "export FLASK_APP=jobs.cli"

deploy-venv: install ## Runtime packages only, wheels chosen for Lambda (what Zappa packages)
	$(BIN)/python -m callbacks.lambda_wheels deploy-venv

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean: services-down
	rm -rf .local
