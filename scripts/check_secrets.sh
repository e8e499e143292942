#!/usr/bin/env bash
# The production stack's first step (docker-compose.yaml, service check-secrets): refuse to start on a
# secret that is empty, still the <...> placeholder of .env.example, or (the Fernet key) not a key;
# a password written into a connection URL that is not URL-safe; an MLflow admin password MLflow refuses.
# One line on stderr naming every bad variable; exit 1. docs/production.md says how to create each secret.
set -uo pipefail
SECRETS=(POSTGRES_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_FERNET_KEY REDIS_PASSWORD
  MLFLOW_ADMIN_PASSWORD MLFLOW_SECRET_KEY SCORER_PASSWORD)
IN_URLS=(POSTGRES_PASSWORD REDIS_PASSWORD)  # compose writes them into connection URLs as they are
empty=() placeholders=() unsafe=()
for var in "${SECRETS[@]}"; do
  value=${!var-}
  if [ -z "$value" ]; then
    empty+=("$var")
  elif [[ $value == *"<"*">"* ]]; then
    placeholders+=("$var")
  fi
done
for var in "${IN_URLS[@]}"; do
  value=${!var-}
  if [ -n "$value" ] && [[ $value != *"<"*">"* ]] && [[ ! $value =~ ^[A-Za-z0-9._~-]+$ ]]; then unsafe+=("$var"); fi
done
problems=()
if [ ${#empty[@]} -gt 0 ]; then problems+=("not set: ${empty[*]}"); fi
if [ ${#placeholders[@]} -gt 0 ]; then problems+=("still the <...> placeholder of .env.example: ${placeholders[*]}"); fi
if [ ${#unsafe[@]} -gt 0 ]; then problems+=("not URL-safe (letters, digits, - _ . ~ only): ${unsafe[*]}"); fi
mlflow_admin=${MLFLOW_ADMIN_PASSWORD-}
if [ -n "$mlflow_admin" ] && [[ $mlflow_admin != *"<"*">"* ]] && [ ${#mlflow_admin} -lt 12 ]; then
  problems+=("shorter than the 12 characters MLflow requires: MLFLOW_ADMIN_PASSWORD")
fi
# the operators' mail, when it is on: a server and a sender, and a login's password that is set and fits
# the JSON of AIRFLOW_CONN_SMTP_DEFAULT
if [ -n "${LEAD_SCORING_ALERT_EMAILS-}" ]; then
  mail=()
  for var in SMTP_HOST SMTP_FROM; do
    if [ -z "${!var-}" ]; then mail+=("$var"); fi
  done
  smtp_password=${SMTP_PASSWORD-}
  if [ -n "${SMTP_USER-}" ] && { [ -z "$smtp_password" ] || [[ $smtp_password == *"<"*">"* ]] ||
    [[ $smtp_password == *'"'* ]] || [[ $smtp_password == *'\'* ]]; }; then
    mail+=("SMTP_PASSWORD")
  fi
  if [ ${#mail[@]} -gt 0 ]; then problems+=("mail is on (LEAD_SCORING_ALERT_EMAILS) but not set or not usable: ${mail[*]}"); fi
fi
# the key from the environment (exported by compose), not python's arguments: ps shows those
if [ ${#problems[@]} -eq 0 ] && ! python -c 'import os; from cryptography.fernet import Fernet; Fernet(os.environ["AIRFLOW_FERNET_KEY"])' \
  >/dev/null 2>&1; then
  problems+=("not a Fernet key: AIRFLOW_FERNET_KEY")
fi
if [ ${#problems[@]} -gt 0 ]; then
  line=$(printf '%s; ' "${problems[@]}")
  echo "error: refusing to start, secrets in .env ${line%; } (docs/production.md, Secrets and access: how to create each)" >&2
  exit 1
fi
echo "secrets: ${SECRETS[*]} set"
