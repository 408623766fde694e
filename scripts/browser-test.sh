#!/usr/bin/env bash
# Browser tests of the analyst page (GET /ui) on a fresh machine: installs Debian's chromium
# when it is missing, installs playwright-core from npm (no browser download), builds the
# binary, starts `triage serve` on a free loopback port with a temporary data dir, creates
# one key per role, posts a three-alert case with hostile content, then runs
# tests/browser/ui.test.mjs. Screenshots go to target/ui-artifacts/. The server is stopped
# on exit; the exit code is non-zero on any failure; the last line is "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$SECONDS
phase=$SECONDS
took() { echo "    ($(( SECONDS - phase )) s)"; phase=$SECONDS; }

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "==> installing Debian's chromium"
  apt_install chromium
fi
command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
command -v node >/dev/null 2>&1 || apt_install nodejs npm
echo "    $("$chromium" --version 2>/dev/null || echo "chromium at $chromium")"
took

echo "==> playwright-core (npm; the browser is Debian's)"
(
  cd tests/browser
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  node csp-hash.mjs
)
took

# scripts/test hands over the binary its test build made; alone, this script builds one.
if [ -n "${TRIAGE_BIN:-}" ]; then
  bin="$TRIAGE_BIN"
else
  echo "==> cargo build"
  cargo build --locked --bin triage
  bin="$root/target/debug/triage"
fi
took

tmp=$(mktemp -d -t triage-ui.XXXXXX)
data="$tmp/data"
server_pid=
tests_ran=
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -z "$tests_ran" ] && [ -f "$tmp/serve.log" ]; then
    echo "--- last lines of the server log ---"
    tail -n 40 "$tmp/serve.log" || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> keys"
key() { "$bin" --data-dir "$data" keys create --name "ui-$1" --role "$1" | tail -n 1; }
KEY_CASE_ENGINE=$(key case_engine)
KEY_ANALYST=$(key analyst)
KEY_APPROVER=$(key approver)
KEY_ADMIN=$(key admin)

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url="http://127.0.0.1:$port"
echo "==> triage serve on $url"
# The baseline engine, whatever the caller's environment says about an LLM.
env -u TRIAGE_LLM_BASE_URL -u TRIAGE_LLM_API_KEY -u OPENAI_API_KEY TRIAGE_ENGINE=baseline \
  "$bin" --data-dir "$data" serve --addr "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "triage serve exited early"; exit 1; }
  sleep 0.25
done
curl -fsS "$url/healthz" >/dev/null

echo "==> posting a case with three alerts, hostile content included"
post() {
  curl -fsS -H "Authorization: Bearer $KEY_CASE_ENGINE" -H 'Content-Type: application/json' \
    --data-binary @"$1" "$url/v1/recommend"
}
post examples/alert-encoded-powershell.json >/dev/null
HOSTILE_CASE_ID=$(post tests/browser/hostile-case.json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(r.status!=="ready")process.exit(1);console.log(r.case_id)})')
echo "    case $HOSTILE_CASE_ID"
took

echo "==> browser tests"
artifacts="$root/target/ui-artifacts"
mkdir -p "$artifacts" "$tmp/profile"
rm -f "$artifacts"/*.png
set +e
TRIAGE_URL="$url" KEY_CASE_ENGINE="$KEY_CASE_ENGINE" KEY_ANALYST="$KEY_ANALYST" KEY_APPROVER="$KEY_APPROVER" KEY_ADMIN="$KEY_ADMIN" \
  HOSTILE_CASE_ID="$HOSTILE_CASE_ID" ARTIFACTS_DIR="$artifacts" CHROMIUM_PROFILE="$tmp/profile" CHROMIUM="$chromium" \
  node tests/browser/ui.test.mjs >"$tmp/result.txt" 2>&1
rc=$?
set -e
tests_ran=1
# The runner's own summary line goes last, after the timing.
grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/result.txt" || true
if [ "$rc" != 0 ]; then
  echo "--- last lines of the server log ---"
  tail -n 40 "$tmp/serve.log" || true
fi
echo "# scripts/browser-test.sh took $((SECONDS - started)) s"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/result.txt" | tail -n 1 || true)
if [ -n "$summary" ]; then echo "$summary"; else echo "0 passed, 1 failed"; [ "$rc" != 0 ] || rc=1; fi
exit "$rc"
