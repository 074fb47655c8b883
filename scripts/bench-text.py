"""transformers peer of generator/benches/text_throughput.rs: the same prompt, the same greedy
KV-cached loop with a host copy per step, on the same GGUF (dequantized by transformers).

Usage: bench-text.py --batch B [--prompt-tokens P] [--new-tokens N]
Prints one JSON line like the Rust benchmark.
"""
import argparse
import json
import os
import resource
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, DynamicCache

ROOT = Path(__file__).resolve().parents[1]
MODELS = Path(os.environ.get("ADFORGE_MODELS_DIR", ROOT / ".deps" / "models"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--device", default=os.environ.get("BENCH_PY_DEVICE", "cpu"))
    a = p.parse_args()
    if "BENCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    model = AutoModelForCausalLM.from_pretrained(
        MODELS / "smollm2-135m-instruct", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32
    ).eval().to(a.device)
    prompt = [(i * 7919) % 40000 + 100 for i in range(a.prompt_tokens)]
    ids = torch.tensor([prompt] * a.batch, device=a.device)

    def run(steps: int):
        cache = DynamicCache()
        start = time.perf_counter()
        out = model(ids, past_key_values=cache, use_cache=True)
        nxt = out.logits[:, -1].argmax(-1)
        nxt.tolist()
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        for step in range(steps):
            pos = torch.full((a.batch, 1), a.prompt_tokens + step, device=a.device)
            out = model(nxt[:, None], past_key_values=out.past_key_values, position_ids=pos, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1)
            nxt.tolist()
        return prefill, (time.perf_counter() - start) / steps

    with torch.no_grad():
        run(2)
        prefill, step = run(a.new_tokens)
    print(json.dumps({
        "impl": "transformers",
        "batch": a.batch,
        "prompt_tokens": a.prompt_tokens,
        "new_tokens": a.new_tokens,
        "prefill_tok_s": a.batch * a.prompt_tokens / prefill,
        "decode_tok_s": a.batch / step,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "device": a.device,
    }))


if __name__ == "__main__":
    main()
