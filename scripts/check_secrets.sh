#!/usr/bin/env bash
# The production stack's first step (docker-compose.yaml, service check-secrets): refuse to start on a
# secret that is empty, still the <...> placeholder of .env.example, or (the Fernet key) not a key.
# One line on stderr naming every bad variable; exit 1. The README says how to create each secret.
set -uo pipefail
SECRETS=(POSTGRES_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_JWT_SECRET AIRFLOW_FERNET_KEY)
empty=() placeholders=()
for var in "${SECRETS[@]}"; do
  value=${!var-}
  if [ -z "$value" ]; then
    empty+=("$var")
  elif [[ $value == *"<"*">"* ]]; then
    placeholders+=("$var")
  fi
done
problems=()
if [ ${#empty[@]} -gt 0 ]; then problems+=("not set: ${empty[*]}"); fi
if [ ${#placeholders[@]} -gt 0 ]; then problems+=("still the <...> placeholder of .env.example: ${placeholders[*]}"); fi
if [ ${#problems[@]} -eq 0 ] && ! python -c 'import sys; from cryptography.fernet import Fernet; Fernet(sys.argv[1])' \
  "$AIRFLOW_FERNET_KEY" >/dev/null 2>&1; then
  problems+=("not a Fernet key: AIRFLOW_FERNET_KEY")
fi
if [ ${#problems[@]} -gt 0 ]; then
  line=$(printf '%s; ' "${problems[@]}")
  echo "error: refusing to start, secrets in .env ${line%; } (README, Running in production: how to create each)" >&2
  exit 1
fi
echo "secrets: ${SECRETS[*]} set"
