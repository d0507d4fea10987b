"""Vision indexing throughput of the full-size ColQwen2 architecture (random weights cost the
same as trained ones): pages per second through Folio's page embedder, then pooling.

The configuration is vidore/colqwen2-v1.0-hf's (Qwen2-VL-2B: a 32-layer, 1280-wide vision
tower with 2x2 patch merging and a 28-layer, 1536-wide language model; 128-dimensional
output), written out by hand because nothing can be downloaded here. Pages are A4 images at
150 dpi (1240 x 1754, as Folio renders them) read at the trained 768-image-token budget,
which is a 32 x 23 grid of 28-pixel patches: 736 image tokens + 11 prompt tokens.

    python bench/vision_throughput.py                     # CPU, 4 pages, batch 2
    python bench/vision_throughput.py --device cuda --pages 64 --batch 16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def colqwen2_config(ids: dict[str, int]) -> object:
    from transformers import ColQwen2Config, Qwen2VLConfig

    vlm = Qwen2VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 1536,
            "intermediate_size": 8960,
            "num_hidden_layers": 28,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
            "rope_theta": 1000000.0,
            "tie_word_embeddings": True,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 32,
            "embed_dim": 1280,
            "hidden_size": 1536,
            "num_heads": 16,
            "mlp_ratio": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return ColQwen2Config(vlm_config=vlm, embedding_dim=128)


def page_images(count: int) -> list[object]:
    from PIL import Image, ImageDraw

    pages = []
    for n in range(count):
        image = Image.new("RGB", (1240, 1754), "white")
        draw = ImageDraw.Draw(image)
        for line in range(60):
            draw.text(
                (90, 90 + 26 * line),
                f"Page {n} line {line}: revenue, costs, 2023 " * 3,
                fill="black",
            )
        draw.rectangle((200, 1200, 1000, 1600), outline="black", width=3)
        pages.append(image)
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--queries", type=int, default=5, help="also time query embedding")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"]
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import ColQwen2ForRetrieval, ColQwen2Processor

    from rag_core.embed.devices import torch_dtype
    from rag_core.vision.model import CUDA_DTYPE, ColVisionEmbedder, _Loaded
    from rag_core.vision.pooling import pool_page, representatives
    from tests.vision_fixtures import QWEN_SPECIAL, build_tiny_colqwen2

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch_dtype(args.dtype, device, on_cuda=CUDA_DTYPE)
    with tempfile.TemporaryDirectory() as folder:
        # The processor (tokenizer with Qwen2-VL's special tokens, PIL image processor).
        processor = ColQwen2Processor.from_pretrained(build_tiny_colqwen2(Path(folder)))
    ids = dict(
        zip(QWEN_SPECIAL, processor.tokenizer.convert_tokens_to_ids(QWEN_SPECIAL), strict=True)
    )
    started = time.perf_counter()
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.device(device):
        model = ColQwen2ForRetrieval(colqwen2_config(ids)).eval()
    torch.set_default_dtype(previous)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"ColQwen2 (Qwen2-VL-2B shapes), {params / 1e9:.2f} B parameters, {dtype}, on {device}; "
        f"built in {time.perf_counter() - started:.0f} s; torch threads {torch.get_num_threads()}"
    )
    # Folio's embedder with this model in place of a loaded checkpoint (same code path after
    # loading: processor, forward, masks, patch grid).
    embedder = ColVisionEmbedder("random-colqwen2", batch_size=args.batch, max_image_tokens=768)
    embedder._loaded = _Loaded(model, processor, "colqwen2", device)

    texts = [f"What was the revenue of segment {i} in 2023 compared to 2022?" for i in range(6)]
    embedder.embed_queries(texts[:1])  # warm-up
    times = []
    for i in range(args.queries):
        started = time.perf_counter()
        [query] = embedder.embed_queries([texts[i % len(texts)]])
        times.append(time.perf_counter() - started)
    if times:
        print(
            f"query embedding ({len(query.vectors)} tokens): median "
            f"{sorted(times)[len(times) // 2] * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms"
        )
    if args.pages == 0:
        return
    images = page_images(args.pages + args.batch)
    warm = embedder.embed_pages(images[: args.batch])  # first batch: allocations, kernels
    page = warm[0]
    print(
        f"a page: {len(page.vectors)} vectors ({int(page.patches.sum())} image patches, grid "
        f"{page.grid[0]}x{page.grid[1]}) of {page.vectors.shape[1]} dims"
    )
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    pages = embedder.embed_pages(images[args.batch :])
    if device == "cuda":
        torch.cuda.synchronize()
    model_s = time.perf_counter() - started
    started = time.perf_counter()
    for p in pages:
        pooled = pool_page(p.vectors, p.patches, p.grid, 3)
        representatives(pooled.vectors, 16)
    pool_s = time.perf_counter() - started
    n = len(pages)
    print(
        f"model: {n} pages in {model_s:.1f} s = {n / model_s:.3g} pages/s "
        f"({model_s / n:.2f} s per page, batch {args.batch})"
    )
    print(
        f"pooling by 3 + representatives (CPU, one thread of Python): {pool_s / n * 1000:.0f} ms "
        f"per page; model + pooling: {n / (model_s + pool_s):.3g} pages/s"
    )
    if device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    assert np.isfinite(pages[0].vectors).all()


if __name__ == "__main__":
    main()
