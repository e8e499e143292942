#!/usr/bin/env bash
# The production topology without Docker: PostgreSQL, Redis, Airflow on the CeleryExecutor (api-server,
# scheduler, dag-processor, two Celery workers) and an MLflow server on Postgres, all on loopback, from
# the system's packages and this project's venv. Runs the four DAGs through Airflow's REST API, then
# backfills four days of the inference DAG at once across both workers, checks Postgres and the MLflow
# registry, and tears everything down. Every wait is bounded, every check
# fails the test when it does not hold, and the teardown fails it when a process is left behind.
# Logins as in production (docs/security.md): Redis and MLflow (basic-auth) require their passwords, the
# workers use them, and a client without them is refused (checked). No password or token is on a command
# line: each reaches its process in the environment or a file only its owner reads (ps shows arguments).
# The operators' mail goes to a local SMTP sink (aiosmtpd) on loopback: a bad export sends exactly one
# mail naming the DAG and the day, a drift alarm's opening and closing one each, a green day none.
#
#   bash scripts/stack_test.sh          (make stack-test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"
STATE=$(mktemp -d -t lead-scoring-stack-XXXXXX)
PIDS=()  # each background service leads its own process group (setsid): its children go with it
log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# check DESCRIPTION COMMAND...: the test fails unless COMMAND succeeds. (A bare `[ a ] && [ b ]` does
# not: under set -e a failure anywhere but in the last command of an && list is ignored.)
check() {
  local what=$1; shift
  if "$@"; then log "check: $what"; else log "CHECK FAILED: $what"; exit 1; fi
}
has_word() { [[ " $1 " == *" $2 "* ]]; }  # has_word "LIST" WORD: WORD is one of the LIST's words

start() {  # start NAME COMMAND...: a background service in a process group of its own
  local name=$1; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 &
  PIDS+=($!)
}

leftovers() {  # the processes of our services still alive: their process groups, and Postgres
  local groups
  groups=$(IFS=,; echo "${PIDS[*]:-}")
  { if [ -n "$groups" ]; then pgrep -g "$groups"; fi; pgrep -f -- "$STATE/"; } 2>/dev/null | sort -u | tr '\n' ' ' || true
}

teardown() {
  status=$?
  log "tearing down (exit status $status)"
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true; done
  [ -n "${REDIS_PORT:-}" ] && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  [ -d "$STATE/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE/pg" -m immediate stop >/dev/null 2>&1 || true
  local deadline=$((SECONDS + 30))  # Celery shuts down warmly; give it time, then kill what is left
  while [ -n "$(leftovers)" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true; done
  sleep 1
  left=$(leftovers)
  if [ -n "$left" ]; then
    log "FAILED: processes left behind: $left"
    ps -o pid,pgid,args -p "${left// /,}" 2>/dev/null || true
    [ "$status" -ne 0 ] || status=1
  else
    log "no process left behind"
  fi
  if [ "$status" -ne 0 ]; then
    for f in "$STATE"/logs/*.log; do echo "----- tail of $f"; tail -n 25 "$f"; done
    # the task logs that mention an error, the most telling first
    grep -rlE "Traceback|ERROR" "${AIRFLOW_HOME:-$STATE/airflow}/logs" 2>/dev/null | head -n 3 | while read -r f; do
      echo "----- task log $f"; grep -E "error|Error|Traceback|raise" "$f" | tail -n 15
    done
  fi
  rm -rf "$STATE"
  exit "$status"
}
trap teardown EXIT

free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then log "gave up waiting for $what after ${limit}s"; return 1; fi
    sleep 2
  done
  log "$what: ready"
}

# -- system packages ---------------------------------------------------------------------------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; then
  log "installing postgresql, redis-server and chromium (the UI check) from the system's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server chromium >/dev/null
fi
PG_BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
mkdir -p "$STATE/logs" "$STATE/home/demo" "$STATE/home/landing" "$STATE/artifacts"
chmod 755 "$STATE"

# -- PostgreSQL: one server, three databases ---------------------------------------------------------
PG_PORT=$(free_port)
install -d -o postgres -g postgres "$STATE/pg" "$STATE/pgrun"
runuser -u postgres -- "$PG_BIN/initdb" -D "$STATE/pg" -A trust -U postgres >"$STATE/logs/initdb.log"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE/pg" -l "$STATE/pgrun/postgres.log" -w \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $STATE/pgrun" start >/dev/null
for db in airflow staging mlflow; do psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $db"; done
log "postgres on 127.0.0.1:$PG_PORT (databases airflow, staging, mlflow)"

secret() { "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(18))'; }
private() { (umask 077; cat >"$1"); }  # private FILE: stdin into a file only its owner reads

# -- Redis, with a password (the config file scripts/redis_start.sh writes, as in docker-compose.yaml) --
REDIS_PORT=$(free_port)
REDIS_PASSWORD=$(secret)
export REDISCLI_AUTH=$REDIS_PASSWORD  # redis-cli's login (the waits, the teardown)
REDIS_PASSWORD=$REDIS_PASSWORD REDIS_CONF="$STATE/redis.conf" sh scripts/redis_start.sh \
  redis-server "$STATE/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$STATE" --logfile "$STATE/logs/redis.log"
redis_pong() { redis-cli -p "$REDIS_PORT" ping | grep -q PONG; }  # without the password: NOAUTH, exit 0
wait_for 20 "redis on 127.0.0.1:$REDIS_PORT" redis_pong
check "redis refuses a client without its password" \
  bash -c 'env -u REDISCLI_AUTH redis-cli -p "$1" ping | grep -q NOAUTH' _ "$REDIS_PORT"

# -- MLflow tracking server on Postgres, artifacts served by it, behind its login (basic-auth) --------
MLFLOW_PORT=$(free_port)
MLFLOW_ADMIN_PASSWORD=$(secret)
# the project's auth config, its users in this test's folder; the server's settings from its environment
sed "s|^database_uri = .*|database_uri = sqlite:///$STATE/mlflow-auth.db|" scripts/mlflow_auth.ini >"$STATE/mlflow_auth.ini"
export MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/mlflow"
export MLFLOW_AUTH_CONFIG_PATH="$STATE/mlflow_auth.ini" MLFLOW_AUTH_ADMIN_USERNAME=admin
export MLFLOW_AUTH_ADMIN_PASSWORD=$MLFLOW_ADMIN_PASSWORD
MLFLOW_FLASK_SERVER_SECRET_KEY=$(secret)
export MLFLOW_FLASK_SERVER_SECRET_KEY
start mlflow "$BIN/mlflow" server --app-name basic-auth \
  --artifacts-destination "$STATE/artifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1
unset MLFLOW_BACKEND_STORE_URI MLFLOW_AUTH_CONFIG_PATH MLFLOW_AUTH_ADMIN_USERNAME MLFLOW_AUTH_ADMIN_PASSWORD \
  MLFLOW_FLASK_SERVER_SECRET_KEY  # the server's alone
wait_for 90 "mlflow server on 127.0.0.1:$MLFLOW_PORT" curl -sf "http://127.0.0.1:$MLFLOW_PORT/health"
# every client (the workers, the CLI, ui_check) logs in as the workers do in production
export MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=$MLFLOW_ADMIN_PASSWORD
printf 'Authorization: Basic %s\n' "$(printf '%s:%s' admin "$MLFLOW_ADMIN_PASSWORD" | base64 -w0)" \
  | private "$STATE/mlflow.headers"
mlflow_api() {  # mlflow_api PATH [CURL ARGS...]: the MLflow REST API with the login, from a file
  local path=$1; shift
  curl -sf -H @"$STATE/mlflow.headers" "$@" "http://127.0.0.1:$MLFLOW_PORT/api/2.0/mlflow/$path"
}

# -- the operators' mail: a local SMTP sink (aiosmtpd, a Maildir), Airflow's smtp_default connection ----
SMTP_PORT=$(free_port)
start mailsink "$BIN/aiosmtpd" -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$STATE/mail"
wait_for 30 "mail sink on 127.0.0.1:$SMTP_PORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT"
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $SMTP_PORT, \"extra\": {\"from_email\": \"leadscore@example.test\", \"disable_tls\": true, \"disable_ssl\": true, \"timeout\": 10}}"
export LEAD_SCORING_ALERT_EMAILS=ops@example.test
mails() { find "$STATE/mail/new" -type f 2>/dev/null | wc -l; }
mail_subjects() {  # mail_subjects N: the subject and recipient of each mail after the first N, one a line
  "$BIN/python" - "$STATE/mail" "$1" <<'PY'
import mailbox, os, sys
from email.header import decode_header, make_header
box = mailbox.Maildir(sys.argv[1], create=False)
keys = sorted(box.keys(), key=lambda k: os.path.getmtime(os.path.join(sys.argv[1], "new", k)))
for key in keys[int(sys.argv[2]):]:
    mail = box[key]
    print(str(make_header(decode_header(mail["Subject"]))), "| to:", mail["To"])
PY
}
# The DAGs are unpaused: the scheduler also starts the daily DAGs' run of the latest whole day (today's
# date, no file landed), which fails and mails too. So each check counts the mails about its own DAG and day.
mails_about() { mail_subjects 0 | grep -cF -- "$1" || true; }  # mails_about TEXT: mails whose subject has TEXT
wait_mails() {  # wait_mails TEXT COUNT: up to 60 s for COUNT mails about TEXT (a callback runs after its task)
  local deadline=$((SECONDS + 60))
  until [ "$(mails_about "$1")" -ge "$2" ] || [ $SECONDS -ge $deadline ]; do sleep 2; done
  sleep 3  # and a little longer: a second mail would be one too many
}

# -- Airflow on the CeleryExecutor -------------------------------------------------------------------
API_PORT=$(free_port)
ADMIN_PASSWORD=$(secret)
export AIRFLOW_HOME="$STATE/airflow"
mkdir -p "$AIRFLOW_HOME"
json() { "$BIN/python" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# JSON-encoded by Python from the environment, as airflow-init does in docker-compose.yaml
ADMIN_PASSWORD=$ADMIN_PASSWORD "$BIN/python" -c 'import json, os; print(json.dumps({"admin": os.environ["ADMIN_PASSWORD"]}))' \
  | private "$AIRFLOW_HOME/passwords.json"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
AIRFLOW__API_AUTH__JWT_SECRET=$(secret)
export AIRFLOW__API_AUTH__JWT_SECRET
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/airflow"
# Airflow 3.3 also opens the metadata database asynchronously; it would derive asyncpg (not installed) from
# the URL above: psycopg 3 (the postgres extra) is async too
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__BROKER_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql://postgres@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=5
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
# the project's settings: the same DAGs, pointed at Postgres and the MLflow server by configuration only
export LEAD_SCORING_HOME="$STATE/home"
export LEAD_SCORING_DB_URL="postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/staging"
export MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
export LEAD_SCORING_LANDING_DIR="$STATE/home/landing"
export LEAD_SCORING_OUTCOMES_DIR="$STATE/home/landing/outcomes"
# the alarm check scores one quiet day after the drifted one: it closes on that day (production keeps 3)
export LEAD_SCORING_ALARM_QUIET_DAYS=1
BACKFILL_DAYS=(2021-12-06 2021-12-07 2021-12-08 2021-12-09)  # the backfill at the end: these days at once
export LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS=${#BACKFILL_DAYS[@]}

log "airflow db migrate"
"$BIN/airflow" db migrate >"$STATE/logs/migrate.log" 2>&1
for part in "api-server" "scheduler" "dag-processor"; do
  start "$part" "$BIN/airflow" "$part"
done
# two Celery workers, as on two machines: their own names, and their log servers on their own ports
for worker in worker1 worker2; do
  start "$worker" env AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)" \
    "$BIN/airflow" celery worker --concurrency 2 --celery-hostname "$worker@%h"
done
API="http://127.0.0.1:$API_PORT"
wait_for 120 "airflow api-server on $API" curl -sf "$API/api/v2/monitor/health"

# the login's body on curl's stdin, the token into files: neither is ever an argument
ADMIN_PASSWORD=$ADMIN_PASSWORD "$BIN/python" -c 'import json, os; print(json.dumps({"username": "admin", "password": os.environ["ADMIN_PASSWORD"]}))' \
  | curl -sf -X POST "$API/auth/token" -H 'Content-Type: application/json' --data-binary @- \
  | json 'd["access_token"]' | private "$STATE/airflow.token"
printf 'Authorization: Bearer %s\n' "$(cat "$STATE/airflow.token")" | private "$STATE/airflow.headers"
api() {  # api METHOD PATH [JSON]
  curl -sf -X "$1" "$API/api/v2$2" -H @"$STATE/airflow.headers" -H 'Content-Type: application/json' ${3:+-d "$3"}
}

for dag in lead_scoring_data_pipeline lead_scoring_training_pipeline lead_scoring_inference_pipeline lead_scoring_feedback_pipeline; do
  wait_for 120 "dag $dag parsed" api GET "/dags/$dag"
  api PATCH "/dags/$dag" '{"is_paused": false}' >/dev/null
done

wait_run() {  # wait_run DAG_ID RUN_ID SECONDS
  local deadline=$((SECONDS + $3)) state
  while :; do
    state=$(api GET "/dags/$1/dagRuns/$2" | json 'd["state"]')
    case "$state" in
      success) log "$1 run $2: success"; return 0 ;;
      failed) log "$1 run $2: FAILED"; api GET "/dags/$1/dagRuns/$2/taskInstances" | json '"\n".join(t["task_id"] + ": " + str(t["state"]) for t in d["task_instances"])'; return 1 ;;
    esac
    if [ $SECONDS -ge $deadline ]; then log "$1 run $2 still $state after $3 s"; return 1; fi
    sleep 3
  done
}

# -- the data, training and inference DAG runs -------------------------------------------------------------------------------
"$BIN/lead-scoring" generate --rows 30000 --seed 7 --start 2021-07-01 --end 2021-11-30 --out "$STATE/home/demo/leads.csv"
"$BIN/lead-scoring" generate --rows 3000 --seed 8 --start 2021-12-03 --end 2021-12-05 --no-label \
  --out "$STATE/home/landing/leads_2021-12-04.csv"

run=$(api POST "/dags/lead_scoring_data_pipeline/dagRuns" '{"logical_date": null, "conf": {"input_path": "demo/leads.csv"}}' | json 'd["dag_run_id"]')
wait_run lead_scoring_data_pipeline "$run" 300

log "waiting for the training run the model_input asset triggers"
deadline=$((SECONDS + 60))
until train_run=$(api GET "/dags/lead_scoring_training_pipeline/dagRuns" | json 'd["dag_runs"][0]["dag_run_id"] if d["dag_runs"] else ""') && [ -n "$train_run" ]; do
  [ $SECONDS -ge $deadline ] && { log "no asset-triggered training run after 60 s"; exit 1; }
  sleep 3
done
wait_run lead_scoring_training_pipeline "$train_run" 420

run=$(api POST "/dags/lead_scoring_inference_pipeline/dagRuns" '{"logical_date": "2021-12-05T00:00:00Z"}' | json 'd["dag_run_id"]')
wait_run lead_scoring_inference_pipeline "$run" 300
log "mail sink after the green runs: $(mails) mail(s) $(mail_subjects 0)"
check "green runs (data, training, a day of inference) send no mail" \
  [ "$(mails_about lead_scoring_data_pipeline) $(mails_about lead_scoring_training_pipeline) $(mails_about "pipeline 2021-12-04")" = "0 0 0" ]

# -- a bad export: the day's file is not a lead export; one mail, naming the DAG and the day --------------
printf 'order_id,amount\n1,9.50\n' >"$STATE/home/landing/leads_2021-12-10.csv"
run=$(api POST "/dags/lead_scoring_inference_pipeline/dagRuns" '{"logical_date": "2021-12-11T00:00:00Z"}' | json 'd["dag_run_id"]')
if wait_run lead_scoring_inference_pipeline "$run" 300; then log "CHECK FAILED: a bad export did not fail its run"; exit 1; fi
rm "$STATE/home/landing/leads_2021-12-10.csv"
bad="lead_scoring_inference_pipeline 2021-12-10"
wait_mails "$bad" 1
log "mail sink: $(mail_subjects 0)"
check "a bad export sends exactly one mail naming the DAG and the day ($bad)" [ "$(mails_about "$bad")" -eq 1 ]
check "it goes to ops@example.test" bash -c '[[ $(grep -F -- "$1") == *"to: ops@example.test" ]]' _ "$bad" <<<"$(mail_subjects 0)"

# -- the loop: outcomes of those leads come back; the feedback DAG ingests them, measures, retrains ------
# (the file has every generated lead of Dec 3-5; only Dec 4's were scored: the others are kept aside)
"$BIN/lead-scoring" generate --rows 3000 --seed 8 --start 2021-12-03 --end 2021-12-05 --outcomes \
  --out "$STATE/home/landing/outcomes/outcomes_2021-12-20.csv"
run=$(api POST "/dags/lead_scoring_feedback_pipeline/dagRuns" '{"logical_date": "2021-12-21T00:00:00Z"}' | json 'd["dag_run_id"]')
deadline=$((SECONDS + 300))
until state=$(api GET "/dags/lead_scoring_feedback_pipeline/dagRuns/$run" | json 'd["state"]') && [[ "$state" == success || "$state" == failed ]]; do
  [ $SECONDS -ge $deadline ] && { log "feedback run $run still $state after 300 s"; exit 1; }
  sleep 3
done
tasks=$(api GET "/dags/lead_scoring_feedback_pipeline/dagRuns/$run/taskInstances" | json '" ".join(sorted(t["task_id"] + "=" + str(t["state"]) for t in d["task_instances"]))')
log "feedback run $run: $state ($tasks)"
for done in ingest=success recompute_performance=success append_labelled=success publish=success; do
  check "feedback task $done" has_word "$tasks" "$done"
done
# check_targets fails the run exactly when the latest judged week is below target (Airflow's alert)
sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d staging -tAc "$1"; }
verdict=$(sql "SELECT status FROM model_performance WHERE status <> 'too_few_labels' ORDER BY week_start DESC, status LIMIT 1")
log "postgres staging: model_performance $(sql "SELECT COUNT(*) FROM model_performance") row(s), latest judged week $verdict"
if [ "$verdict" = below_target ]; then
  check "a below-target week fails the feedback run ($state)" [ "$state" = failed ]
  check "check_targets is the task that failed" has_word "$tasks" check_targets=failed
  wait_mails "lead_scoring_feedback_pipeline 2021-12-20" 1
  check "the week below target sends one mail" [ "$(mails_about "lead_scoring_feedback_pipeline 2021-12-20")" -eq 1 ]
else
  check "the feedback run succeeds when the latest judged week is $verdict ($state)" [ "$state" = success ]
fi
outcomes=$(sql "SELECT COUNT(*) FROM outcomes")
labelled=$(sql "SELECT SUM(leads_labelled) FROM model_performance")
unmatched=$(sql "SELECT COUNT(*) FROM unmatched_outcomes")
log "postgres staging: outcomes $outcomes (= predictions), unmatched_outcomes $unmatched, labelled in model_performance $labelled"
check "every scored lead got its outcome ($outcomes)" [ "$outcomes" -eq "$(sql "SELECT COUNT(*) FROM predictions")" ]
check "model_performance counts every labelled lead ($labelled)" [ "$labelled" -eq "$outcomes" ]
check "outcomes of leads never scored are kept aside ($unmatched)" [ "$unmatched" -gt 0 ]

log "waiting for the training run the republished model_input asset triggers"
deadline=$((SECONDS + 60))
until retrain_run=$(api GET "/dags/lead_scoring_training_pipeline/dagRuns" | json '[r["dag_run_id"] for r in d["dag_runs"] if r["dag_run_id"] != "'"$train_run"'"][0] if len(d["dag_runs"]) > 1 else ""') && [ -n "$retrain_run" ]; do
  [ $SECONDS -ge $deadline ] && { log "no asset-triggered retraining run after 60 s"; exit 1; }
  sleep 3
done
wait_run lead_scoring_training_pipeline "$retrain_run" 420
experiment=$(mlflow_api "experiments/get-by-name?experiment_name=lead_scoring" | json 'd["experiment"]["experiment_id"]')
reason=$(mlflow_api runs/search -X POST -H 'Content-Type: application/json' \
  -d "{\"experiment_ids\": [\"$experiment\"], \"filter\": \"tags.airflow_run = '$retrain_run'\"}" \
  | json '[t["value"] for t in d["runs"][0]["data"]["tags"] if t["key"] == "retrain_reason"][0]')
log "mlflow server: the retraining run's retrain_reason: $reason"
check "the retraining run says why it ran" has_word "$reason" "newly"

# -- what landed where ----------------------------------------------------------------------------------
model_input=$(sql "SELECT COUNT(*) FROM model_input")
predictions=$(sql "SELECT COUNT(*) FROM predictions")
versions=$(sql "SELECT COUNT(DISTINCT model_version) FROM predictions")
log "postgres staging: model_input $model_input rows, predictions $predictions rows from $versions model version(s)"
check "model_input has the 30,000 generated leads and the newly labelled ones ($model_input)" [ "$model_input" -gt "$((29000 + outcomes))" ]
check "predictions has rows ($predictions)" [ "$predictions" -gt 0 ]
check "predictions come from one model version ($versions)" [ "$versions" -eq 1 ]
champion=$(mlflow_api "registered-models/alias?name=lead_scoring&alias=champion" | json 'd["model_version"]["version"]')
check "the MLflow server has lead_scoring@champion (version $champion)" [ -n "$champion" ]

# -- MLflow's login: the workers got in (above); a client without it, or with a wrong one, gets nothing ----
refused() {  # refused DESCRIPTION CURL ARGS...: the request's status is 401 or 403
  local what=$1; shift
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
  check "MLflow refuses $what ($code)" has_word "401 403" "$code"
}
MLFLOW_API="$MLFLOW_TRACKING_URI/api/2.0/mlflow"
refused "to read champion without a login" "$MLFLOW_API/registered-models/alias?name=lead_scoring&alias=champion"
refused "to move champion without a login" -X POST -H 'Content-Type: application/json' \
  -d "{\"name\": \"lead_scoring\", \"alias\": \"champion\", \"version\": \"1\"}" "$MLFLOW_API/registered-models/alias"
refused "its UI without a login" "$MLFLOW_TRACKING_URI/"
printf 'Authorization: Basic %s\n' "$(printf 'admin:wrong-%s' "$MLFLOW_ADMIN_PASSWORD" | base64 -w0)" | private "$STATE/wrong.headers"
refused "a wrong password" -H @"$STATE/wrong.headers" "$MLFLOW_API/registered-models/alias?name=lead_scoring&alias=champion"

# -- a drift alarm by mail: one when it opens, one when it closes --------------------------------------
# Dec 11: every lead from a platform the model never saw (the 7-day window Dec 5-11 drifts: the alarm
# opens, the monitor task fails); Dec 18: plain leads, the drifted day out of its window: the alarm closes.
# (Before the backfill: its days, Dec 6-9, come before the alarm and are not in these windows.)
"$BIN/lead-scoring" generate --rows 300 --seed 1211 --start 2021-12-11 --end 2021-12-11 --no-label --out "$STATE/drift.csv" >/dev/null
"$BIN/python" -c 'import pandas, sys; f = pandas.read_csv(sys.argv[1]); f["first_platform_c"] = "Level999"; f.to_csv(sys.argv[2], index=False)' \
  "$STATE/drift.csv" "$STATE/home/landing/leads_2021-12-11.csv"
"$BIN/lead-scoring" generate --rows 300 --seed 1218 --start 2021-12-18 --end 2021-12-18 --no-label \
  --out "$STATE/home/landing/leads_2021-12-18.csv" >/dev/null
opened="lead_scoring_inference_pipeline 2021-12-11: drift alarm opened"
resolved="lead_scoring_inference_pipeline 2021-12-18: resolved"
run=$(api POST "/dags/lead_scoring_inference_pipeline/dagRuns" '{"logical_date": "2021-12-12T00:00:00Z"}' | json 'd["dag_run_id"]')
if wait_run lead_scoring_inference_pipeline "$run" 300; then log "CHECK FAILED: the drifted day opened no alarm"; exit 1; fi
wait_mails "$opened" 1
log "mail sink: $(mail_subjects 0)"
check "the alarm's opening sends one mail ($opened)" [ "$(mails_about "$opened") $(mails_about "pipeline 2021-12-11")" = "1 1" ]
run=$(api POST "/dags/lead_scoring_inference_pipeline/dagRuns" '{"logical_date": "2021-12-19T00:00:00Z"}' | json 'd["dag_run_id"]')
wait_run lead_scoring_inference_pipeline "$run" 300
wait_mails "$resolved" 1
log "mail sink: $(mail_subjects 0)"
check "the alarm's closing sends one mail ($resolved)" [ "$(mails_about "$resolved") $(mails_about "pipeline 2021-12-18")" = "1 1" ]


# -- a backfill across both workers: four past days at once (LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS) --
# a manual run covers the last whole day before its logical date: the day after each day to score
runs=()
for day in "${BACKFILL_DAYS[@]}"; do
  "$BIN/lead-scoring" generate --rows 300 --seed "${day//-/}" --start "$day" --end "$day" --no-label \
    --out "$STATE/home/landing/leads_$day.csv" >/dev/null
done
for day in "${BACKFILL_DAYS[@]}"; do
  after=$("$BIN/python" -c 'import datetime,sys; print(datetime.date.fromisoformat(sys.argv[1]) + datetime.timedelta(days=1))' "$day")
  runs+=("$(api POST "/dags/lead_scoring_inference_pipeline/dagRuns" "{\"logical_date\": \"${after}T00:00:00Z\"}" | json 'd["dag_run_id"]')")
done
log "backfill: ${#runs[@]} inference runs triggered (${BACKFILL_DAYS[*]}), max_active_runs $LEAD_SCORING_INFERENCE_MAX_ACTIVE_RUNS"
for run in "${runs[@]}"; do wait_run lead_scoring_inference_pipeline "$run" 300; done
spans=$(for run in "${runs[@]}"; do api GET "/dags/lead_scoring_inference_pipeline/dagRuns/$run" | json 'd["start_date"] + " " + d["end_date"]'; done)
at_once=$("$BIN/python" -c '
import sys
from datetime import datetime
spans = [tuple(map(datetime.fromisoformat, line.split())) for line in sys.stdin if line.strip()]
print(max(sum(start <= moment < end for start, end in spans) for moment, _ in spans))' <<<"$spans")
check "the backfill's days ran at once (at most $at_once at a time)" [ "$at_once" -ge 2 ]
tries=$(for run in "${runs[@]}"; do api GET "/dags/lead_scoring_inference_pipeline/dagRuns/$run/taskInstances" | json 'max(t["try_number"] for t in d["task_instances"])'; done | sort -n | tail -n 1)
check "no task of the backfill needed a retry (at most $tries try)" [ "$tries" -eq 1 ]
for worker in worker1 worker2; do
  # each worker logs the task instances it executes, with their run ids
  ran=$(grep "Executing workload" "$STATE/logs/$worker.log" | grep -cFf <(printf '%s\n' "${runs[@]}") || true)
  check "Celery $worker ran tasks of the backfill ($ran)" [ "$ran" -gt 0 ]
done
for day in "${BACKFILL_DAYS[@]}"; do
  landed=$("$BIN/python" -c 'import pandas, sys; print(len(pandas.read_csv(sys.argv[1])))' "$STATE/home/landing/leads_$day.csv")
  IFS='|' read -r rows leads <<<"$(sql "SELECT COUNT(*), COUNT(DISTINCT p.lead_id) FROM predictions p JOIN scored_leads s USING (lead_id)
    WHERE s.created_date >= DATE '$day' AND s.created_date < DATE '$day' + 1")"
  check "$day: each of its $landed leads in predictions once ($rows rows, $leads leads)" [ "$rows $leads" = "$landed $landed" ]
  IFS='|' read -r recorded scored <<<"$(sql "SELECT COUNT(*), SUM(rows_scored) FROM scoring_runs WHERE run_key = 'interval:${day}T00:00:00'")"
  check "$day: one scoring_runs row ($recorded), of its $landed leads ($scored)" [ "$recorded $scored" = "1 $landed" ]
done

for day in "${BACKFILL_DAYS[@]}"; do
  check "the backfill's green day $day sends no mail" [ "$(mails_about "pipeline $day")" -eq 0 ]
done

# -- the scorer: the champion online behind a login, following a promotion without a person --------
SCORER_PORT=$(free_port)
SCORER="http://127.0.0.1:$SCORER_PORT"
export LEAD_SCORING_SCORER_USERNAME=scorer
LEAD_SCORING_SCORER_PASSWORD=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(12))')
export LEAD_SCORING_SCORER_PASSWORD
# curl's login from a netrc file, never `-u user:password` (ps shows every argument to every user)
printf 'machine 127.0.0.1 login scorer password %s\n' "$LEAD_SCORING_SCORER_PASSWORD" | private "$STATE/scorer.netrc"
start scorer "$BIN/lead-scoring" serve --host 127.0.0.1 --port "$SCORER_PORT" --refresh 2
wait_for 120 "scorer on $SCORER" curl -sf "$SCORER/health"
served() { curl -sf "$SCORER/health" | json 'd["version"]'; }
check "the scorer serves the champion (version $(served), champion $champion)" [ "$(served)" = "$champion" ]
lead='{"dataframe_records": [{"lead_id": "crm-1", "created_date": "2021-12-10 09:00:00", "city_mapped": "mumbai", "referred_lead": 1}]}'
score() { curl -s -o "$STATE/answer.json" -w '%{http_code}' "$@" -X POST "$SCORER/invocations" -H 'Content-Type: application/json' -d "$lead"; }
check "the scorer refuses a request without its login" [ "$(score)" = "401" ]
check "the scorer answers a raw lead with its login" [ "$(score --netrc-file "$STATE/scorer.netrc")" = "200" ]
answer=$(json '" ".join(str(d["predictions"][0][k]) for k in ("lead_id", "bucket", "error"))' <"$STATE/answer.json")
log "scorer: crm-1 -> $answer"
check "the answer has the lead's id ($answer)" has_word "$answer" "crm-1"
check "the answer has no error ($answer)" has_word "$answer" "None"
other=$(mlflow_api "model-versions/search?filter=name%3D%27lead_scoring%27" \
  | json "max((v['version'] for v in d['model_versions'] if v['version'] != '$champion'), key=int, default='')")
check "the registry has a version besides the champion to promote ($other)" [ -n "$other" ]
"$BIN/lead-scoring" promote "$other" --reason "stack test: the scorer follows the alias"
wait_for 60 "the scorer serving version $other" bash -c "[ \"\$(curl -sf $SCORER/health | $BIN/python -c 'import json,sys; print(json.load(sys.stdin)[\"version\"])')\" = $other ]"
check "the scorer follows the promotion to version $other ($(served))" [ "$(served)" = "$other" ]
check "the promoted version answers too" [ "$(score --netrc-file "$STATE/scorer.netrc")" = "200" ]

# -- what a person sees: the MLflow runs view and the Airflow DAG list, in headless Chromium ----------
shots="${LEAD_SCORING_UI_SHOTS:-$STATE/ui}"  # screenshots; set the variable to keep them
check "the MLflow runs view shows the training run and its dataset; the Airflow UI lists the four DAGs (screenshots in $shots)" \
  "$BIN/python" scripts/ui_check.py --out "$shots" --airflow "$API" --airflow-token-file "$STATE/airflow.token"
log "stack test passed"
