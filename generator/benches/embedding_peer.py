"""Peer side of benches/embedding.rs: all-MiniLM-L6-v2 sentence embeddings with transformers.

Usage: embedding_peer.py MODEL_DIR SENTENCES_JSON BATCH ROUNDS THREADS TRIM
Prints one JSON line: {"impl": "transformers", "batch", "trim", "sentences_per_s"}.
With TRIM=0 every sentence keeps the tokenizer's fixed padding to 128 tokens (the packaged
tokenizer as is); with TRIM=1 a batch is cut to its longest real sequence, as the Rust side does.
Tokenization (the same tokenizer.json through the tokenizers library), the forward pass,
attention-masked mean pooling and L2 normalisation are all inside the timed region, as on the
Rust side.
"""
import json
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel
from tokenizers import Tokenizer


def main() -> None:
    model_dir, sentences_path, batch, rounds, threads, trim = sys.argv[1:]
    batch, rounds, threads, trim = int(batch), int(rounds), int(threads), trim == "1"
    torch.set_num_threads(threads)
    sentences = json.load(open(sentences_path))
    config = BertConfig.from_json_file(f"{model_dir}/config.json")
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(load_file(f"{model_dir}/model.safetensors"), strict=False)
    model.eval()
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")

    def embed(chunk):
        encodings = tokenizer.encode_batch(chunk)
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        types = torch.tensor([e.type_ids for e in encodings])
        if trim:
            length = int(mask.sum(1).max())
            ids, mask, types = ids[:, :length], mask[:, :length], types[:, :length]
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    chunks = [sentences[i:i + batch] for i in range(0, len(sentences), batch)]
    embed(chunks[0])  # warm-up
    started = time.perf_counter()
    done = 0
    for _ in range(rounds):
        for chunk in chunks:
            embed(chunk)
            done += len(chunk)
    elapsed = time.perf_counter() - started
    print(json.dumps({"impl": "transformers", "batch": batch, "trim": trim,
                      "sentences_per_s": done / elapsed}))


if __name__ == "__main__":
    main()
