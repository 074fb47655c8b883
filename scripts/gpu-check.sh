#!/usr/bin/env bash
# GPU checks for a host with an NVIDIA GPU (not runnable on the CPU-only dev machines).
# 1. Installs the full PyPI torch wheel (with its CUDA libraries) plus the Python reference
#    stack into .deps/gpu-venv, and builds adforge against that libtorch (CUDA-linked) in
#    target/gpu, leaving the CPU build in target/ untouched.
# 2. Text engine: regenerates the fixtures with that venv, runs the parity tests on CUDA
#    (ADFORGE_DEVICE=cuda, CI=true so missing fixtures fail), then the throughput benchmark
#    with both adforge and transformers on the GPU.
# 3. Image engine: regenerates the diffusers fixtures (installing diffusers into the venv), runs
#    the image parity tests on CUDA, then the image benchmark with adforge and diffusers on CUDA.
# Usage: scripts/gpu-check.sh [text] [image]      (default: both)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PARTS="${*:-text image}"
VENV="$ROOT/.deps/gpu-venv"
TORCH_VERSION="2.11.0"
log() { printf '\033[1m[gpu-check]\033[0m %s\n' "$*"; }

command -v nvidia-smi >/dev/null && nvidia-smi -L || { echo "gpu-check: no NVIDIA GPU visible" >&2; exit 1; }
if [ ! -f "$VENV/.complete" ]; then
  log "creating $VENV (torch $TORCH_VERSION with CUDA, transformers, gguf)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION" transformers gguf safetensors numpy accelerate tokenizers
  touch "$VENV/.complete"
fi
TORCH_DIR=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
"$VENV/bin/python" -c 'import torch; assert torch.cuda.is_available(), "torch in the venv sees no GPU"'
# The CUDA libraries of the wheel live in nvidia/*/lib next to torch.
NVIDIA_LIBS=$(find "$(dirname "$TORCH_DIR")/nvidia" -maxdepth 2 -name lib -type d 2>/dev/null | paste -sd: -)
export LIBTORCH="$TORCH_DIR" LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH="$TORCH_DIR/lib${NVIDIA_LIBS:+:$NVIDIA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_DIR="$ROOT/target/gpu"
export ADFORGE_FIXTURES="$ROOT/target/gpu-fixtures"
export PYREF="$VENV/bin/python"

if [[ " $PARTS " == *" text "* ]]; then
  log "text: fixtures"
  for script in generator/tests/fixtures/make_text*.py; do
    name=$(basename "$script" .py); name=${name#make_}
    "$PYREF" "$script" "$ADFORGE_FIXTURES/$name"
  done
  log "text: parity and batching tests on CUDA (f32)"
  ADFORGE_DEVICE=cuda CI=true cargo test -p adforge-generator \
    --test text_parity --test text_smollm2 --test text_scheduler -- --test-threads=1
  log "text: throughput, adforge and transformers both on CUDA"
  BENCH_DEVICE=cuda BENCH_PY_DEVICE=cuda scripts/bench-text.sh
fi
if [[ " $PARTS " == *" image "* ]]; then
  "$PYREF" -c 'import diffusers, PIL' 2>/dev/null || "$VENV/bin/pip" install --quiet diffusers pillow
  log "image: fixtures"
  for script in generator/tests/fixtures/make_image*.py; do
    name=$(basename "$script" .py); name=${name#make_}
    "$PYREF" "$script" "$ADFORGE_FIXTURES/$name"
  done
  log "image: parity tests on CUDA (f32)"
  ADFORGE_DEVICE=cuda CI=true cargo test -p adforge-generator --test image_parity -- --test-threads=1
  log "image: timing, adforge and diffusers both on CUDA"
  ADFORGE_DEVICE=cuda BENCH_PY_DEVICE=cuda PYTHON="$PYREF" ADFORGE_BENCH_DIR="$ROOT/target/gpu-bench/image" \
    scripts/bench-image.sh
fi
log "done"
