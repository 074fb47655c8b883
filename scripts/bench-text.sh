#!/usr/bin/env bash
# Text engine throughput against transformers, same machine, same run, same prompts:
# SmolLM2-135M-Instruct (the default GGUF), f32, greedy KV-cached decoding, batch 1 and 16.
# Prints a Markdown table with adforge/transformers ratios (also written to bench-out/text.md).
#   BENCH_PROFILE  cargo profile for the benchmark binary (default: release)
#   BENCH_THREADS  intra-op threads for both sides (default: torch's default)
#   BENCH_DEVICE   cpu (default) or cuda (adforge side only; transformers stays on CPU unless
#                  BENCH_PY_DEVICE=cuda is also set)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${BENCH_PROFILE:-release}"
PY="${PYREF:-$ROOT/.deps/pyref/bin/python}"
PROMPT="${BENCH_PROMPT_TOKENS:-128}"
NEW="${BENCH_NEW_TOKENS:-64}"
mkdir -p bench-out
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo bench --profile "$PROFILE" -p adforge-generator --bench text_throughput --no-run >&2
BIN=$(ls -t "$CARGO_TARGET_DIR/$( [ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"/deps/text_throughput-* \
      | grep -v '\.d$' | head -n1)
results=()
for batch in 1 16; do
  results+=("$("$BIN" --batch "$batch" --prompt-tokens "$PROMPT" --new-tokens "$NEW" --device "${BENCH_DEVICE:-cpu}")")
  results+=("$("$PY" scripts/bench-text.py --batch "$batch" --prompt-tokens "$PROMPT" --new-tokens "$NEW")")
done
printf '%s\n' "${results[@]}" > bench-out/text.jsonl
"$PY" - bench-out/text.jsonl <<'PY' | tee bench-out/text.md
import json, sys, platform, os
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["impl"], r["batch"]): r for r in rows}
print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
      f"threads {rows[0]['threads']}; prompt {rows[0]['prompt_tokens']} tokens, {rows[0]['new_tokens']} new tokens, f32\n")
print("| batch | metric | adforge | transformers | ratio |")
print("|---|---|---|---|---|")
for b in sorted({r["batch"] for r in rows}):
    a, t = by[("adforge", b)], by[("transformers", b)]
    for key, label in [("prefill_tok_s", "prefill tok/s"), ("decode_tok_s", "decode tok/s"), ("peak_rss_mib", "peak RSS MiB")]:
        print(f"| {b} | {label} | {a[key]:.1f} | {t[key]:.1f} | {a[key] / t[key]:.2f}x |")
a1, a16 = by[("adforge", 1)], by[("adforge", 16)]
print(f"\nadforge batch-16 vs batch-1 decode throughput: {a16['decode_tok_s'] / a1['decode_tok_s']:.2f}x")
PY
