"""llama.cpp peer of generator/benches/text_throughput.rs (through llama-cpp-python): the same
deterministic prompt, the same GGUF, the same thread count, a greedy loop that evaluates one
token per step and takes the argmax of its logits on the host, a fixed number of new tokens.

Usage: bench-llamacpp.py [--prompt-tokens P] [--new-tokens N] [--threads T] [--model PATH]
Prints one JSON line like the Rust benchmark (batch 1).
"""
import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[1]
MODELS = Path(os.environ.get("ADFORGE_MODELS_DIR", ROOT / ".deps" / "models"))
DEFAULT = MODELS / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    p.add_argument("--model", default=str(DEFAULT))
    a = p.parse_args()
    start = time.perf_counter()
    llm = Llama(
        model_path=a.model,
        n_ctx=a.prompt_tokens + a.new_tokens + 8,
        n_batch=max(a.prompt_tokens, 8),
        n_threads=a.threads,
        n_threads_batch=a.threads,
        verbose=False,
    )
    load_s = time.perf_counter() - start
    prompt = [(i * 7919) % 40000 + 100 for i in range(a.prompt_tokens)]
    n_vocab = llm.n_vocab()

    def last_logits():
        # The logits of the last evaluated token, straight from llama.cpp's buffer.
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))

    def run(steps: int):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        nxt = int(np.argmax(last_logits()))
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            llm.eval([nxt])
            nxt = int(np.argmax(last_logits()))
        return prefill, (time.perf_counter() - start) / steps

    run(2)
    prefill, step = run(a.new_tokens)
    print(json.dumps({
        "impl": "llama.cpp",
        "batch": 1,
        "prompt_tokens": a.prompt_tokens,
        "new_tokens": a.new_tokens,
        "prefill_tok_s": a.prompt_tokens / prefill,
        "decode_tok_s": 1 / step,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_s": load_s,
        "decode": "quantized",
        "step_ms": step * 1e3,
        "threads": a.threads,
    }))


if __name__ == "__main__":
    main()
