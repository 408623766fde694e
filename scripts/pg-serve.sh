#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL for triage's tests.
#
#   scripts/pg-serve.sh [start]   initdb a cluster in .cache/pg (first run), start it on
#                                 127.0.0.1:PORT (default $TRIAGE_PG_PORT or 55432), create
#                                 role and database `triage`, print the database URL last
#   scripts/pg-serve.sh stop      stop the cluster started by this script
#   scripts/pg-serve.sh clean     drop the per-test databases (triage_t_*) left behind
#
# Re-running start reuses a cluster that is already up. Loopback connections are trusted
# and durability is off (fsync, synchronous_commit): test data only, never production.
# The role `triage` may create databases: the test harness gives each app its own, named
# triage_t_<uuid>, through this URL (TRIAGE_TEST_DATABASE_URL).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${TRIAGE_PG_CACHE:-$REPO_ROOT/.cache/pg}"
# As root the cluster belongs to the postgres user, who may not be able to reach a checkout
# under a private home (/root is 0700): then the cluster lives under /var/tmp instead.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 \
   && ! runuser -u postgres -- test -x "$(dirname "$CACHE")" 2>/dev/null \
   && ! runuser -u postgres -- test -x "$(dirname "$(dirname "$CACHE")")" 2>/dev/null; then
  CACHE="/var/tmp/triage-pg"
fi
DATA="$CACHE/data"
LOG_FILE="$CACHE/server.log"
PORT="${TRIAGE_PG_PORT:-55432}"
HOST=127.0.0.1

log() { printf '[pg-serve] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install_postgres() {
  [ -n "$(pg_bin)" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; as root: apt-get install -y postgresql"
  log "installing Debian's postgresql"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  # The package starts its own cluster on 5432; ours is separate and needs none of it.
  [ -n "$(pg_bin)" ] || die "postgresql installed, but no /usr/lib/postgresql/*/bin"
}

psql_admin() { # SQL as the superuser over loopback
  as_owner "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d postgres -tA "$@"
}

is_running() { as_owner "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
  install_postgres
  local bin
  bin="$(pg_bin)"
  mkdir -p "$CACHE"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$CACHE"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb in $DATA"
    # Byte-order collation: ids and RFC 3339 times are compared as text.
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
    {
      echo "listen_addresses = '$HOST'"
      echo "port = $PORT"
      echo "unix_socket_directories = ''"
      echo "max_connections = 400"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  if is_running; then
    log "already running ($DATA)"
  else
    log "starting on $HOST:$PORT"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG_FILE" -o "-p $PORT" -w -t 60 start >/dev/null \
      || die "PostgreSQL did not start; see $LOG_FILE"
  fi
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'triage'")" ]; then
    psql_admin -c "CREATE ROLE triage LOGIN CREATEDB PASSWORD 'triage'"
  fi
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'triage'")" ]; then
    psql_admin -c "CREATE DATABASE triage OWNER triage TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
  fi
  echo "postgres://triage@$HOST:$PORT/triage"
}

stop() {
  [ -n "$(pg_bin)" ] && [ -f "$DATA/PG_VERSION" ] || { log "no cluster in $DATA"; return 0; }
  if is_running; then
    log "stopping"
    as_owner "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  else
    log "not running"
  fi
}

clean() {
  is_running || die "not running"
  local db
  for db in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'triage\_t\_%'"); do
    psql_admin -c "DROP DATABASE \"$db\" WITH (FORCE)"
  done
  log "dropped the per-test databases"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  clean) clean ;;
  *) die "usage: $0 [start|stop|clean]" ;;
esac
