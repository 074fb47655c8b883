#!/usr/bin/env bash
# Text engine throughput against transformers and llama.cpp, same machine, same run, same prompt:
# SmolLM2-135M-Instruct (the default Q4_1 GGUF), greedy KV-cached decoding.
#   - adforge batch 1, 16 and 32: the quantized CPU decode step (GGUF blocks, int8 activations,
#     weights read once per step for the whole batch) and the f32 libtorch reference.
#   - llama.cpp (llama-cpp-python) batch 1 on the same GGUF with the same thread count.
#   - transformers batch 1 and 16 (f32).
# Prints a Markdown table (also written to bench-out/text.md) with the machine's load.
#   BENCH_PROFILE        cargo profile for the benchmark binary (default: release)
#   BENCH_THREADS        threads for every side (default: one per CPU)
#   BENCH_NEW_TOKENS     new tokens per run (default 200); BENCH_PROMPT_TOKENS (default 128)
#   BENCH_BURN=1         keep one core busy with a CPU burner (a shell loop) during the runs; the
#                        f32 reference and transformers then run at batch 1 only (their batched
#                        runs take many minutes on a shared core and measure nothing the
#                        contention targets ask)
#   BENCH_REFERENCE=0|1  run the f32 reference and transformers batched too (default: 1, 0 under
#                        BENCH_BURN=1)
#   BENCH_SKIP_PEERS=1   adforge only (no transformers, no llama.cpp)
#   BENCH_DEVICE         cpu (default) or cuda (adforge side only)
#   BENCH_LLAMACPP_VERSION  llama-cpp-python version installed into the benchmark venv when it is
#                        missing (default 0.3.36; it builds llama.cpp from source for this CPU,
#                        5 to 10 minutes on 2 cores, once)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${BENCH_PROFILE:-release}"
PY="${PYREF:-$ROOT/.deps/pyref/bin/python}"
PROMPT="${BENCH_PROMPT_TOKENS:-128}"
NEW="${BENCH_NEW_TOKENS:-200}"
THREADS="${BENCH_THREADS:-$(nproc)}"
export BENCH_THREADS="$THREADS" ADFORGE_DECODE_THREADS="$THREADS"
mkdir -p bench-out
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo bench --profile "$PROFILE" -p adforge-generator --bench text_throughput --no-run >&2
BIN=$(ls -t "$CARGO_TARGET_DIR/$( [ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"/deps/text_throughput-* \
      | grep -v '\.d$' | head -n1)

if [ "${BENCH_SKIP_PEERS:-0}" != 1 ] && ! "$PY" -c 'import llama_cpp' 2>/dev/null; then
  echo "installing llama-cpp-python into the benchmark venv (builds llama.cpp from source)" >&2
  "$PY" -m pip install -q "llama-cpp-python==${BENCH_LLAMACPP_VERSION:-0.3.36}" >&2 ||
    echo "llama-cpp-python could not be installed; the llama.cpp peer is skipped" >&2
fi

BURNER=""
stop_burner() { if [ -n "$BURNER" ]; then kill "$BURNER" 2>/dev/null || true; fi; }
trap stop_burner EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${BENCH_BURN:-0}" = 1 ]; then
  sh -c 'while :; do :; done' &
  BURNER=$!
  sleep 1
fi

adforge() { "$BIN" --prompt-tokens "$PROMPT" --new-tokens "$NEW" --device "${BENCH_DEVICE:-cpu}" "$@"; }

results=()
results+=("$(adforge --batch 1 --decode quantized)")
if [ "${BENCH_SKIP_PEERS:-0}" != 1 ]; then
  if "$PY" -c 'import llama_cpp' 2>/dev/null; then
    results+=("$("$PY" scripts/bench-llamacpp.py --prompt-tokens "$PROMPT" --new-tokens "$NEW" --threads "$THREADS")")
  else
    echo "llama-cpp-python is not installed in $PY's venv; skipping the llama.cpp peer" >&2
  fi
fi
BATCHED_REFERENCE="${BENCH_REFERENCE:-$([ "${BENCH_BURN:-0}" = 1 ] && echo 0 || echo 1)}"
results+=("$(adforge --batch 1 --decode reference)")
for batch in 16 32; do
  results+=("$(adforge --batch "$batch" --decode quantized)")
  if [ "$BATCHED_REFERENCE" = 1 ]; then
    results+=("$(adforge --batch "$batch" --decode reference)")
  fi
done
if [ "${BENCH_SKIP_PEERS:-0}" != 1 ]; then
  for batch in 1 16; do
    if [ "$batch" = 1 ] || [ "$BATCHED_REFERENCE" = 1 ]; then
      results+=("$("$PY" scripts/bench-text.py --batch "$batch" --prompt-tokens "$PROMPT" --new-tokens "$NEW")")
    fi
  done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
stop_burner
BURNER=""
printf '%s\n' "${results[@]}" > bench-out/text.jsonl

"$PY" - bench-out/text.jsonl "$LOAD_BEFORE" "$LOAD_AFTER" "${BENCH_BURN:-0}" <<'PY' | tee bench-out/text.md
import json, sys, platform, os
rows = [json.loads(l) for l in open(sys.argv[1])]
load_before, load_after, burn = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def label(r):
    return "adforge " + r["decode"] if r["impl"] == "adforge" else r["impl"]
def fmt(v, spec=".1f"):
    return "–" if v is None else format(v, spec)
r0 = rows[0]
print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads "
      f"{r0['threads']}; prompt {r0['prompt_tokens']} tokens, {r0['new_tokens']} new tokens, greedy; "
      f"load average (1/5/15 min) {load_before} before, {load_after} after"
      f"{'; one core busy with a CPU burner' if burn else ''}\n")
print("| engine | batch | decode tok/s | prefill tok/s | step ms | matmul ms | attention ms | load s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {label(r)} | {r['batch']} | {r['decode_tok_s']:.1f} | {r['prefill_tok_s']:.1f} | "
          f"{fmt(r.get('step_ms'), '.2f')} | {fmt(r.get('matmul_ms'), '.2f')} | "
          f"{fmt(r.get('attention_ms'), '.2f')} | {fmt(r.get('load_s'), '.2f')} | {r['peak_rss_mib']:.0f} |")
by = {(label(r), r["batch"]): r for r in rows}
q1 = by.get(("adforge quantized", 1))
ref1 = by.get(("adforge reference", 1))
lc = by.get(("llama.cpp", 1))
tf1 = by.get(("transformers", 1))
print()
if q1 and lc:
    print(f"- batch 1, adforge quantized / llama.cpp decode: {q1['decode_tok_s'] / lc['decode_tok_s']:.2f}x; "
          f"peak RSS {q1['peak_rss_mib'] / lc['peak_rss_mib']:.2f}x")
if q1 and ref1:
    print(f"- batch 1, adforge quantized / adforge f32 reference: {q1['decode_tok_s'] / ref1['decode_tok_s']:.2f}x")
if ref1 and tf1:
    print(f"- batch 1, adforge f32 / transformers f32: {ref1['decode_tok_s'] / tf1['decode_tok_s']:.2f}x")
for b in (16, 32):
    q = by.get(("adforge quantized", b))
    if q and q1:
        print(f"- adforge batch {b} quantized / batch 1 quantized decode throughput: "
              f"{q['decode_tok_s'] / q1['decode_tok_s']:.2f}x")
    r = by.get(("adforge reference", b))
    if r and q1:
        print(f"- adforge batch {b} (f32) / adforge batch 1 quantized decode throughput: "
              f"{r['decode_tok_s'] / q1['decode_tok_s']:.2f}x (/ batch 1 f32: {r['decode_tok_s'] / ref1['decode_tok_s']:.2f}x)")
tf16 = by.get(("transformers", 16))
if tf16 and ("adforge reference", 16) in by:
    print(f"- batch 16, adforge f32 / transformers f32: {by[('adforge reference', 16)]['decode_tok_s'] / tf16['decode_tok_s']:.2f}x")
PY
