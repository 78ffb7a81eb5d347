#!/bin/bash
# Entrypoint of the postgres:15 stand-in. Same contract as the official image's, in short:
# on an empty PGDATA, initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD (scram),
# create POSTGRES_DB (default: the user's name), run /docker-entrypoint-initdb.d/*.sql and
# *.sh against a server listening only on its Unix socket, stop it; then run the server on
# every address. Started as root, it drops to the postgres user.
set -euo pipefail

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres: POSTGRES_PASSWORD is not set: refusing to create a server without one" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    # Other containers reach the server over the compose network: every address, password.
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"

    # The set-up server listens only on its socket, so nobody connects before it is done.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname postgres)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" -q --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # the image's users provide the *.sh scripts
        case "$script" in
            *.sql) echo "postgres: running $script"; "${psql[@]}" -q --dbname "$POSTGRES_DB" -f "$script" ;;
            *.sh) echo "postgres: running $script"; . "$script" ;;
            *) [ -e "$script" ] && echo "postgres: ignoring $script" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres: initialised $PGDATA"
fi

exec "$@"
