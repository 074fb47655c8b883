"""diffusers side of the image-engine benchmark (scripts/bench-image.sh runs both sides).

  bench-image.py build OUT_DIR            random-init pipelines: OUT_DIR/tiny and OUT_DIR/sd15
                                           (SD 1.5 shapes: CLIP ViT-L text, 860M UNet, KL-f8 VAE)
  bench-image.py run DIR WIDTH HEIGHT STEPS UNET_REPEATS
                                           prints one JSON line: ms per UNet step (batch 2, as under
                                           classifier-free guidance), ms per image, peak RSS
"""

import json
import os
import sys
import time

import torch

torch.set_grad_enabled(False)


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(out):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    shapes = {
        "tiny": dict(
            text=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3),
            unet=dict(block_out_channels=(32, 64), layers_per_block=2, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=(2, 4),
                      norm_num_groups=16, sample_size=8),
            vae=dict(block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=8,
                     down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4),
        ),
        "sd15": dict(
            text=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12),
            unet=dict(cross_attention_dim=768, sample_size=64),  # other defaults are the SD 1.5 shapes
            vae=dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32,
                     down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                     sample_size=512),
        ),
    }
    for name, s in shapes.items():
        torch.manual_seed(0)
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu",
                                            eos_token_id=2, **s["text"]))
        unet = UNet2DConditionModel(**s["unet"])
        vae = AutoencoderKL(latent_channels=4, **s["vae"])
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(os.path.join(out, name), safe_serialization=True)
        print("built", name, sum(p.numel() for p in unet.parameters()) / 1e6, "M UNet parameters")


def run(path, width, height, steps, repeats):
    from diffusers import StableDiffusionPipeline

    device = os.environ.get("BENCH_PY_DEVICE", "cpu")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, requires_safety_checker=False).to(device)
    pipe.set_progress_bar_config(disable=True)
    unet = pipe.unet
    latents = torch.randn(2, 4, height // 8, width // 8, device=device)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, device=device)
    unet(latents, 500.0, encoder_hidden_states=context)  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        unet(latents, 500.0, encoder_hidden_states=context)
    sync()
    step_ms = (time.perf_counter() - start) / repeats * 1000
    small = torch.randn(1, 4, height // 8, width // 8, device=device)
    pipe.vae.decode(small)  # warm-up
    sync()
    start = time.perf_counter()
    pipe.vae.decode(small)
    sync()
    decode_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    pipe("a red sneaker", num_inference_steps=steps, guidance_scale=7.5, width=width, height=height,
         generator=torch.Generator().manual_seed(0), output_type="np")
    sync()
    image_ms = (time.perf_counter() - start) * 1000
    print(json.dumps(dict(impl="diffusers", unet_step_ms=step_ms, vae_decode_ms=decode_ms, image_ms=image_ms, peak_rss_mib=peak_rss_mib(),
                          threads=torch.get_num_threads(), device=device)))


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
