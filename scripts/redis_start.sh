#!/bin/sh
# Redis with a password, never on a command line (ps shows any process's arguments to every user of
# the host): write REDIS_PASSWORD into a config file only its owner reads, then run the command given,
# which names that file. A `"` or `\` in the password is escaped for Redis's quoted strings.
#
#   REDIS_CONF=/dev/shm/redis.conf sh redis_start.sh docker-entrypoint.sh redis-server /dev/shm/redis.conf
#
# Used by docker-compose.yaml (service redis) and scripts/stack_test.sh.
set -eu
: "${REDIS_PASSWORD:?set REDIS_PASSWORD}" "${REDIS_CONF:?set REDIS_CONF, the config file to write}"
umask 077
escaped=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
printf 'requirepass "%s"\n' "$escaped" >"$REDIS_CONF"
# the official image's entrypoint drops to the user redis: it must still read the file
if [ "$(id -u)" = 0 ] && id redis >/dev/null 2>&1; then chown redis "$REDIS_CONF"; fi
exec "$@"
