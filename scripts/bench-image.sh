#!/usr/bin/env bash
# Image-engine benchmark: adforge's diffusion pipeline against Hugging Face diffusers on the same
# machine in the same run, for a tiny config and a random-init SD 1.5-shaped pipeline at 512x512.
# Reports ms per UNet step (batch 2, as under classifier-free guidance), per VAE decode, per image and peak RSS
# of each process, and the adforge/diffusers ratios. Not a test; needs .deps/pyref
# (scripts/setup.sh --pyref). Usage: scripts/bench-image.sh [tiny|sd15|all]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.deps/pyref/bin/python}"
OUT="${ADFORGE_BENCH_DIR:-$ROOT/target/bench/image}"
WHICH="${1:-all}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

cd "$ROOT"
if [ ! -f "$OUT/sd15/model_index.json" ] || [ ! -f "$OUT/tiny/model_index.json" ]; then
  "$PY" scripts/bench-image.py build "$OUT"
fi
cargo build --quiet -p adforge-generator --example image_bench
BIN="$CARGO_TARGET_DIR/debug/examples/image_bench"

RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
#        name  width height steps unet-repeats
for cfg in "tiny 64 64 4 20" "sd15 512 512 2 2"; do
  set -- $cfg
  if [ "$WHICH" != all ] && [ "$WHICH" != "$1" ]; then continue; fi
  echo "== $1 (${2}x${3}, $4 steps)" >&2
  py_line=$("$PY" scripts/bench-image.py run "$OUT/$1" "$2" "$3" "$4" "$5" 2>/dev/null | tail -n1)
  rs_line=$("$BIN" "$OUT/$1" "$2" "$3" "$4" "$5" | tail -n1)
  echo "{\"config\": \"$1\", \"diffusers\": $py_line, \"adforge\": $rs_line}" | tee -a "$RESULTS"
done

"$PY" - "$RESULTS" <<'PY'
import json, sys
print("| config | UNet step (adforge / diffusers) | VAE decode | image | peak RSS |")
print("|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    a, d = r["adforge"], r["diffusers"]
    cell = lambda k, unit: f"{a[k]:.1f} / {d[k]:.1f} {unit} ({a[k] / d[k]:.2f}x)"
    print(f"| {r['config']} | {cell('unet_step_ms', 'ms')} | {cell('vae_decode_ms', 'ms')} | {cell('image_ms', 'ms')} | {cell('peak_rss_mib', 'MiB')} |")
PY
