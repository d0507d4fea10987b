"""Tiny, randomly initialised ColQwen2 and ColPali models built locally (nothing downloaded).

Each is the real architecture at toy size with a byte-level BPE tokenizer trained here with
``tokenizers`` (holding the special tokens the processors need), saved with
``save_pretrained`` so tests load it through Folio's real loader. Random weights rank pages
arbitrarily: tests check shapes, geometry, plumbing and exact arithmetic, not relevance.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Query: what was the apple harvest in 2020?",
    "Question: how often should the engine oil be changed?",
    "Describe the image. user orchard pear frost revenue chart table figure scan page",
]

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Pages of the tiny ColQwen2 hold at most 64 patch tokens (an A4 page: 9 x 6).
TINY_MAX_IMAGE_TOKENS = 64


def _bpe(special: list[str], vocab_size: int = 400) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    return tokenizer


def build_tiny_colqwen2(folder: Path, embedding_dim: int = 16) -> Path:
    import torch
    from transformers import (
        ColQwen2Config,
        ColQwen2ForRetrieval,
        ColQwen2Processor,
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    torch.manual_seed(0)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_bpe(QWEN_SPECIAL),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        padding_side="left",
    )
    ids = dict(zip(QWEN_SPECIAL, tokenizer.convert_tokens_to_ids(QWEN_SPECIAL), strict=True))
    vocab = len(tokenizer)
    vlm = Qwen2VLConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "rope_theta": 10000.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
    )
    model = ColQwen2ForRetrieval(ColQwen2Config(vlm_config=vlm, embedding_dim=embedding_dim))
    images = Qwen2VLImageProcessorPil(
        min_pixels=56 * 56,
        max_pixels=28 * 28 * TINY_MAX_IMAGE_TOKENS,
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    processor = ColQwen2Processor(image_processor=images, tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_colpali(folder: Path, embedding_dim: int = 16) -> Path:
    import torch
    from transformers import (
        ColPaliConfig,
        ColPaliForRetrieval,
        ColPaliProcessor,
        PaliGemmaConfig,
        PreTrainedTokenizerFast,
    )
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    torch.manual_seed(0)
    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<image>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_bpe(special, vocab_size=300),
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        padding_side="right",
    )
    images = SiglipImageProcessorPil(size={"height": 56, "width": 56})
    images.image_seq_length = 16  # (56 / 14) ** 2 patches
    processor = ColPaliProcessor(image_processor=images, tokenizer=tokenizer)
    vocab = len(processor.tokenizer)
    paligemma = PaliGemmaConfig(
        text_config={
            "model_type": "gemma",
            "vocab_size": vocab,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 1,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 56,
            "patch_size": 14,
            "projection_dim": 32,
        },
        image_token_id=processor.image_token_id,
        projection_dim=32,
        hidden_size=32,
        vocab_size=vocab,
    )
    model = ColPaliForRetrieval(ColPaliConfig(vlm_config=paligemma, embedding_dim=embedding_dim))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
