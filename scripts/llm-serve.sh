#!/usr/bin/env bash
# Start (or stop) a local llama-server with SmolLM2-135M-Instruct for triage's tests.
#
#   scripts/llm-serve.sh [PORT]   start on 127.0.0.1:PORT (default $TRIAGE_LLM_PORT or 8091),
#                                 wait for GET /health == 200, print http://127.0.0.1:PORT/v1
#   scripts/llm-serve.sh stop     stop the server started by this script
#
# Runs scripts/llm-setup.sh first (a no-op on a warm cache). The server's pid goes
# to $CACHE/server.pid, its log to $CACHE/server.log (CACHE as in llm-setup.sh).
# Only the base URL is printed on stdout; progress goes to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${TRIAGE_LLM_CACHE:-$REPO_ROOT/.cache/llm}"
PID_FILE="$CACHE/server.pid"
LOG_FILE="$CACHE/server.log"
READY_TIMEOUT="${TRIAGE_LLM_READY_TIMEOUT:-120}"
HOST=127.0.0.1

log() { printf '[llm-serve] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid of our running llama-server, or nothing. Checks the process really is
# llama-server so a stale pid file never makes us signal an unrelated process.
running_pid() {
  [ -f "$PID_FILE" ] || return 0
  local pid
  pid="$(head -n1 "$PID_FILE" | tr -dc '0-9')"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null \
     && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama-server'; then
    echo "$pid"
  fi
}

running_port() { # port recorded next to the pid
  sed -n 2p "$PID_FILE" 2>/dev/null || true
}

health_code() { # port -> HTTP status of /health, 000 if nothing answers
  curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$1/health" 2>/dev/null || true
}

stop_server() {
  local pid
  pid="$(running_pid)"
  if [ -z "$pid" ]; then
    log "no llama-server running (from $PID_FILE)"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping llama-server pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

start_server() {
  local port="$1"
  case "$port" in ''|*[!0-9]*) die "port must be a number, got '$port'" ;; esac

  mkdir -p "$CACHE"
  exec 9>"$CACHE/.serve.lock"
  flock 9

  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    if [ "$(running_port)" = "$port" ] && [ "$(health_code "$port")" = 200 ]; then
      log "llama-server already running (pid $pid) on port $port"
      echo "http://$HOST:$port/v1"
      return 0
    fi
    die "llama-server pid $pid already running on port $(running_port); run '$0 stop' first"
  fi
  rm -f "$PID_FILE"

  if [ "$(health_code "$port")" != 000 ]; then
    die "something else already answers on $HOST:$port"
  fi

  local setup_out server model
  setup_out="$("$SCRIPT_DIR/llm-setup.sh")"
  server="$(printf '%s\n' "$setup_out" | sed -n 's/^LLAMA_SERVER=//p' | tail -n1)"
  model="$(printf '%s\n' "$setup_out" | sed -n 's/^LLM_MODEL=//p' | tail -n1)"
  [ -x "$server" ] || die "llm-setup.sh gave no usable LLAMA_SERVER"
  [ -f "$model" ] || die "llm-setup.sh gave no usable LLM_MODEL"

  # -c is split across the 2 slots. The prompt cache is off: with it, memory
  # grows past 1 GB and temperature-0 answers stop being repeatable.
  log "starting llama-server on $HOST:$port (log: $LOG_FILE)"
  nohup setsid "$server" -m "$model" --host "$HOST" --port "$port" \
    -c 8192 --parallel 2 -t 2 --no-webui --metrics --no-cache-prompt --cache-ram 0 \
    </dev/null >"$LOG_FILE" 2>&1 9>&- &   # 9>&-: the server must not hold our lock
  pid=$!
  printf '%s\n%s\n' "$pid" "$port" > "$PID_FILE"

  local deadline=$((SECONDS + READY_TIMEOUT)) code
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      tail -n 20 "$LOG_FILE" >&2 || true
      die "llama-server exited during startup (see $LOG_FILE)"
    fi
    code="$(health_code "$port")"
    [ "$code" = 200 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$LOG_FILE" >&2 || true
      stop_server
      die "llama-server not healthy after ${READY_TIMEOUT}s (last /health: $code)"
    fi
    sleep 0.5
  done
  log "ready (pid $pid)"
  echo "http://$HOST:$port/v1"
}

case "${1:-}" in
  stop) stop_server ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) start_server "${1:-${TRIAGE_LLM_PORT:-8091}}" ;;
esac
