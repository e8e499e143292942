# leadscore: make install | demo | test | lint | bench | airflow | mlflow | help
SHELL := /bin/bash
# Python 3.13: PYTHON=... if given, else python3.13 on PATH, else pyenv's (scripts/find_python.sh)
PYTHON ?=
FIND_PYTHON = py="$$(bash scripts/find_python.sh "$(PYTHON)")" || exit 2
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export LEAD_SCORING_HOME ?= $(CURDIR)
export AIRFLOW_HOME ?= $(LEAD_SCORING_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export MLFLOW_TRACKING_URI ?= sqlite:///$(LEAD_SCORING_HOME)/mlflow.db
DEMO_DIR := $(LEAD_SCORING_HOME)/demo
DEMO_ROWS ?= 30000
# the runs view of the lead_scoring experiment (MLflow 3.17 opens an experiment in its GenAI view otherwise)
export MLFLOW_LINK := from lead_scoring.adapters.mlflow import registry; from lead_scoring.settings import Settings; print(registry.experiment_link(Settings.from_env()))
# the tracking store as a person may see it: any password or token masked (a link never has one)
export MLFLOW_STORE := from lead_scoring.settings import Settings; print(Settings.from_env().redacted_tracking_uri())

.PHONY: install demo test test-fast lint docs mutate bench stack-test airflow mlflow serve serve-dockerfile lock clean help

install: $(VENV)/.installed  ## create .venv with the pinned environment and the project (editable)

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(FIND_PYTHON); echo "$$py -m venv $(VENV)"; "$$py" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: install  ## generate leads and run the pipelines end to end on the embedded defaults
	$(BIN)/lead-scoring generate --rows $(DEMO_ROWS) --seed 7 --start 2021-07-01 --end 2021-11-30 --out $(DEMO_DIR)/leads.csv
	$(BIN)/lead-scoring prepare --input $(DEMO_DIR)/leads.csv
	$(BIN)/lead-scoring train
	$(BIN)/lead-scoring generate --rows 2000 --seed 8 --start 2021-12-01 --end 2021-12-07 --no-label --out $(DEMO_DIR)/new_leads.csv
	$(BIN)/lead-scoring score --input $(DEMO_DIR)/new_leads.csv --output $(DEMO_DIR)/scored_leads.csv
	@echo
	@echo "The loop: weeks later the CRM knows which of these leads completed an application (generated here)"
	$(BIN)/lead-scoring generate --rows 2000 --seed 8 --start 2021-12-01 --end 2021-12-07 --outcomes --out $(DEMO_DIR)/outcomes.csv
	$(BIN)/lead-scoring feedback --outcomes $(DEMO_DIR)/outcomes.csv
	$(BIN)/lead-scoring generate --rows 300 --seed 9 --start 2021-12-01 --end 2021-12-01 --no-label --out $(LEAD_SCORING_HOME)/landing/leads_2021-12-01.csv
	$(BIN)/lead-scoring generate --rows 300 --seed 9 --start 2021-12-01 --end 2021-12-01 --outcomes --out $(LEAD_SCORING_HOME)/landing/outcomes/outcomes_2021-12-15.csv
	@echo
	@echo "Next: make mlflow   -> $$($(BIN)/python -c "$$MLFLOW_LINK")"
	@echo "                       (experiment lead_scoring: runs, plots, sales/ gain tables; Models: lead_scoring@champion;"
	@echo "                       lead_scoring-performance: realized figures per model version, stepped by ISO week)"
	@echo "      make airflow  -> http://localhost:8080  (the four lead_scoring DAGs; scores in the predictions table;"
	@echo "                       to score landing/leads_2021-12-01.csv, trigger lead_scoring_inference_pipeline"
	@echo "                       with logical date 2021-12-02: a manual run covers the last whole day before it;"
	@echo "                       then trigger lead_scoring_feedback_pipeline with logical date 2021-12-16 for"
	@echo "                       their outcomes in landing/outcomes/outcomes_2021-12-15.csv)"

test: install  ## run the test suite
	$(BIN)/python -m pytest

test-fast: install  ## the inner loop: everything but the end-to-end runs through Airflow and MLflow
	$(BIN)/python -m pytest -m "not slow"

docs: install  ## regenerate docs/configuration.md's settings tables from the declaration (lead_scoring/settings/)
	$(BIN)/python -m lead_scoring.settings.doc docs/configuration.md

mutate: install  ## mutation testing of the pure core against the fast tests (not in CI: ~1 h on 2 cores)
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python tools/mutation_report.py

lint: install  ## ruff, the layering contracts (import-linter, pyproject.toml) and mypy --strict (package and dags/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install  ## measure prepare, train, score and DAG parse times (docs/performance.md)
	$(BIN)/python bench/run.py

stack-test: install  ## Postgres + Redis + Airflow on Celery + MLflow server on loopback, the four DAGs via the REST API
	bash scripts/stack_test.sh

airflow: install  ## Airflow standalone (api-server, scheduler, dag-processor, triggerer) on this project's dags/
	@mkdir -p $(AIRFLOW_HOME)
	@echo "Airflow UI: http://localhost:8080  user: admin  password: see $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated"
	PATH="$(BIN):$$PATH" $(BIN)/airflow standalone

SERVE_PORT ?= 5001
serve: install  ## the champion online: raw leads in, scores out, on 127.0.0.1:$(SERVE_PORT) (docs/serving.md)
	PATH="$(BIN):$$PATH" $(BIN)/mlflow models serve -m models:/lead_scoring@champion --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

serve-dockerfile: install  ## build/serve-image/Dockerfile serving the champion (plus the libgomp1 LightGBM needs)
	rm -rf build/serve-image
	$(BIN)/mlflow models generate-dockerfile -m models:/lead_scoring@champion -d build/serve-image
	sed -i 's/install -y --no-install-recommends nginx/install -y --no-install-recommends nginx libgomp1/' build/serve-image/Dockerfile
	grep -q libgomp1 build/serve-image/Dockerfile

mlflow: install  ## MLflow UI on the project's tracking store
	@echo "MLflow UI: $$($(BIN)/python -c "$$MLFLOW_LINK" 2>/dev/null || echo http://localhost:5000) (store: $$($(BIN)/python -c "$$MLFLOW_STORE"))"
	@# the store from the environment, not the command line: make echoes a command, and ps shows it
	MLFLOW_BACKEND_STORE_URI="$$MLFLOW_TRACKING_URI" $(BIN)/mlflow ui --default-artifact-root "$(LEAD_SCORING_HOME)/mlruns" --host 127.0.0.1 --port 5000

lock:  ## re-resolve the pins from pyproject.toml's ranges (a fresh venv), then review the diff
	@$(FIND_PYTHON); rm -rf .lock-venv && "$$py" -m venv .lock-venv
	# celery 5.7 dropped celery.backends.database.retry, which the Celery provider 3.26 imports;
	# kombu[redis] 5.6 wants redis < 6.5
	.lock-venv/bin/pip install --quiet ".[dev,postgres]" "apache-airflow-providers-celery" "celery<5.7" "redis<6.5"
	{ head -2 requirements.txt; .lock-venv/bin/pip freeze --exclude lead-scoring; } > requirements.txt.new
	mv requirements.txt.new requirements.txt && rm -rf .lock-venv

clean:  ## remove the venv and the tools' caches
	rm -rf $(VENV) .pytest_cache .ruff_cache

help:  ## list the targets with what each does (plain `make` still installs)
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
