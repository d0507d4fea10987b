"""The composition module: everything that turns ``Settings`` into Folio's objects.

``app.py``, the CLI, the evaluation and the benchmarks build their parts here, so a setting
is one field in ``config.Settings`` plus one mapping line below, and the component configs
(``RetrievalConfig``, ``IngestConfig``, ``VisionConfig``) have no defaults of their own to
drift from the settings'. Every constructor here is cheap: models load on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal, cast

from rag_core.answer.agentic import Agent, AgentConfig, AnthropicBackend, OpenAIBackend
from rag_core.answer.cache import AnswerCache
from rag_core.answer.claims import ClaimCheck, OfflineClaimCheck
from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.claude_claims import ClaudeClaimCheck
from rag_core.answer.common import Answerer
from rag_core.answer.conversation import (
    ClaudeRewriter,
    OpenAIRewriter,
    QueryRewriter,
    RuleRewriter,
)
from rag_core.answer.decomposer import (
    ClaudeDecomposer,
    Decomposer,
    OpenAIDecomposer,
    RuleDecomposer,
)
from rag_core.answer.extractive import ExtractiveAnswerer
from rag_core.answer.gate import GateModel
from rag_core.answer.openai_claims import OpenAIClaimCheck
from rag_core.answer.openai_client import ChatClient
from rag_core.answer.openai_compat import OpenAICompatAnswerer
from rag_core.config import DEFAULT_WORKSPACE, Settings, safe_folder
from rag_core.embed.embeddings import (
    INT8_SUFFIX,
    Embedder,
    EmbeddingCache,
    SentenceTransformerEmbedder,
)
from rag_core.embed.sentences import SentenceVectors
from rag_core.errors import ConfigurationError
from rag_core.index.builder import SnapshotBuilder
from rag_core.index.dense import ChromaStore, collection_name
from rag_core.index.lexical import LexicalTokenizer
from rag_core.index.merging import MergePolicy, merge_once
from rag_core.index.snapshot import SnapshotStore
from rag_core.ingest.boxes import CitationBoxes
from rag_core.ingest.chunking import DENSE_TEXT_VERSION
from rag_core.ingest.pipeline import IngestConfig, Ingestor
from rag_core.ingest.rendering import PageImages
from rag_core.library import Library
from rag_core.ocr import OcrBacklog, OcrConfig, OcrEngine, OcrLine
from rag_core.retrieve.retriever import RetrievalConfig, Retriever
from rag_core.store.database import create_engine
from rag_core.store.registry import DENSE_TEXT_KEY, Registry
from rag_core.vision import ColVisionEmbedder, VisionConfig, VisionIndex


# Component configs: one mapping line per setting ------------------------------------------
def retrieval_config(s: Settings) -> RetrievalConfig:
    return RetrievalConfig(
        fusion=s.fusion,
        rrf_k=s.rrf_k,
        bm25_weight=s.bm25_weight,
        dense_weight=s.dense_weight,
        section_weight=s.section_weight,
        feedback_chunks=s.feedback_chunks,
        feedback_weight=s.feedback_weight,
        candidates=s.candidates,
        max_unknown_ratio=s.max_unknown_ratio,
        route_docs=s.route_docs,
        route_weight=s.route_weight,
        route_cover_weight=s.route_cover_weight,
        route_min_chunks=s.route_min_chunks,
        bm25_scope=s.bm25_scope,
        exact_dense_max=s.exact_dense_max,
    )


def ingest_config(s: Settings) -> IngestConfig:
    return IngestConfig(
        max_bytes=s.max_upload_bytes,
        max_pages=s.max_pages,
        chunk_tokens=s.chunk_tokens,
        chunk_overlap=s.chunk_overlap,
        render_dpi=s.render_dpi,
        thumb_width=s.thumb_width,
        max_unknown_ratio=s.chunk_max_unknown_ratio,
        max_page_pixels=s.max_page_pixels,
        max_document_pixels=s.max_document_pixels,
        max_page_content_mb=s.max_page_content_mb,
        max_document_content_mb=s.max_document_content_mb,
        max_page_render_seconds=s.max_page_render_seconds,
        max_document_render_seconds=s.max_document_render_seconds,
        max_docx_xml_mb=s.max_docx_xml_mb,
    )


def vision_config(s: Settings) -> VisionConfig:
    return VisionConfig(
        enabled=s.vision_enabled,
        pool_factor=s.vision_pool_factor,
        candidates=s.vision_candidates,
        representatives=s.vision_representatives,
        batch_size=s.vision_batch,
        weight=s.vision_weight,
    )


# Models -----------------------------------------------------------------------------------
def text_embedder_for(s: Settings) -> SentenceTransformerEmbedder:
    """The text embedding model the settings name (cheap: weights load on first use)."""
    return SentenceTransformerEmbedder(
        s.embed_model,
        device=s.embed_device,
        dtype=s.embed_dtype,
        batch_size=s.embed_batch,
        backend=s.embed_backend,
        cache_dir=s.model_cache_dir,
    )


def ocr_config(s: Settings) -> OcrConfig:
    return OcrConfig(enabled=s.ocr, threads=s.ocr_threads, dpi=s.ocr_dpi)


def vision_embedder_for(s: Settings) -> ColVisionEmbedder:
    """The page-image model the settings name (cheap: weights load on first use)."""
    return ColVisionEmbedder(
        s.vision_model,
        device=s.vision_device,
        dtype=s.vision_dtype,
        batch_size=s.vision_batch,
        max_image_tokens=s.vision_max_image_tokens,
    )


AnswerBackend = Literal["claude", "openai", "extractive"]
ANSWERERS = ("auto", "claude", "openai", "extractive")


def answer_backend(s: Settings) -> AnswerBackend:
    """Who writes answers (``FOLIO_ANSWERER``): ``auto`` is Claude with an API key, else your
    own model when ``FOLIO_LLM_BASE_URL`` is set, else the extractive answerer. A choice the
    settings cannot serve is a ``ConfigurationError`` naming the setting."""
    choice = s.answerer.strip().lower()
    if choice not in ANSWERERS:
        raise ConfigurationError(
            f"FOLIO_ANSWERER={s.answerer!r} is not an answerer: use {', '.join(ANSWERERS)}"
        )
    if choice == "auto":
        return "claude" if s.anthropic_api_key else "openai" if s.llm_base_url else "extractive"
    if choice == "claude" and not s.anthropic_api_key:
        raise ConfigurationError("FOLIO_ANSWERER=claude needs ANTHROPIC_API_KEY")
    if choice == "openai" and not s.llm_base_url:
        raise ConfigurationError(
            "FOLIO_ANSWERER=openai needs FOLIO_LLM_BASE_URL, the server's address: e.g. "
            "http://localhost:11434/v1 (Ollama) or http://localhost:8000/v1 (vLLM)"
        )
    return cast(AnswerBackend, choice)


def chat_client_for(s: Settings) -> ChatClient:
    """The client of your own model's server (checks FOLIO_LLM_BASE_URL and FOLIO_LLM_MODEL)."""
    return ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, timeout=s.llm_timeout)


def answerer_for(
    s: Settings,
    tokenizer: LexicalTokenizer,
    embedder: Embedder,
    sentences: SentenceVectors | None = None,
) -> Answerer:
    """The answerer ``FOLIO_ANSWERER`` chooses (see ``answer_backend``); ``sentences``: where
    the extractive answerer finds its sentences' vectors (none: it embeds them each time)."""
    backend = answer_backend(s)
    if backend == "claude":
        return ClaudeAnswerer(
            s.anthropic_api_key or "",
            model=s.claude_model,
            base_url=s.anthropic_base_url,
            max_tokens=s.answer_max_tokens,
        )
    if backend == "openai":
        return OpenAICompatAnswerer(
            chat_client_for(s), tokenizer, max_tokens=s.answer_max_tokens, vision=s.llm_vision
        )
    return ExtractiveAnswerer(
        tokenizer,
        embedder,
        min_support=s.min_evidence,
        max_unknown_ratio=s.max_unknown_ratio,
        sentences=sentences,
    )


def agent_for(
    s: Settings, answerer: Answerer, tokenizer: LexicalTokenizer, embedder: Embedder
) -> Agent | None:
    """The agentic loop over the answering model (``FOLIO_AGENT``); None when it is off or no
    language model answers. It answers, when the model gives no answer within its steps,
    extractively from what it gathered."""
    if s.agent == "off":
        return None
    config = AgentConfig(max_steps=s.agent_max_steps, budget_seconds=s.agent_budget_seconds)
    fallback = ExtractiveAnswerer(
        tokenizer, embedder, min_support=s.min_evidence, max_unknown_ratio=s.max_unknown_ratio
    )
    if isinstance(answerer, ClaudeAnswerer):
        claude = answerer
        backend: AnthropicBackend | OpenAIBackend = AnthropicBackend(
            lambda: claude.client, claude.model, claude.max_tokens
        )
        return Agent(backend, tokenizer, fallback, config, "claude")
    if isinstance(answerer, OpenAICompatAnswerer):
        backend = OpenAIBackend(answerer.chat, answerer.max_tokens)
        return Agent(backend, tokenizer, fallback, config, "openai")
    return None


def gate_model_for(s: Settings) -> GateModel:
    """The evidence gate: FOLIO_GATE_MODEL's file, else the one shipped with Folio."""
    if s.gate_model is None:
        return GateModel.load()
    try:
        return GateModel.load(s.gate_model)
    except ValueError as exc:
        raise ConfigurationError(f"FOLIO_GATE_MODEL: {exc}") from exc


def claim_check_for(
    s: Settings, tokenizer: LexicalTokenizer, embedder: Embedder
) -> ClaimCheck | None:
    """Each answer's sentences checked offline, by a language model (``FOLIO_CLAIM_CHECK=llm``:
    the answering model, else whichever is configured, Claude first), or not."""
    if s.claim_check == "off":
        return None
    offline = OfflineClaimCheck(
        tokenizer, embedder if s.claim_similarity else None, max_unknown_ratio=s.max_unknown_ratio
    )
    if s.claim_check == "offline":
        return offline
    backend = answer_backend(s)
    if backend == "openai" or (
        backend == "extractive" and s.llm_base_url and not s.anthropic_api_key
    ):
        return OpenAIClaimCheck(chat_client_for(s), offline=offline)
    if s.anthropic_api_key:
        return ClaudeClaimCheck(
            s.anthropic_api_key,
            model=s.claude_model,
            offline=offline,
            base_url=s.anthropic_base_url,
        )
    raise ConfigurationError(
        "FOLIO_CLAIM_CHECK=llm needs a language model: set ANTHROPIC_API_KEY or "
        "FOLIO_LLM_BASE_URL, or use FOLIO_CLAIM_CHECK=offline"
    )


def decomposer_for(s: Settings) -> Decomposer | None:
    """Who splits multi-part questions: the answering model (``FOLIO_DECOMPOSE=auto`` with a
    model configured), the rules, or nobody (``off``)."""
    if s.decompose == "off":
        return None
    backend = answer_backend(s) if s.decompose == "auto" else "extractive"
    if backend == "claude":
        return ClaudeDecomposer(
            s.anthropic_api_key or "", model=s.rewrite_model, base_url=s.anthropic_base_url
        )
    if backend == "openai":
        return OpenAIDecomposer(chat_client_for(s))
    return RuleDecomposer()


def rewriter_for(s: Settings) -> QueryRewriter:
    """Follow-up rewriting by the answering model (Claude's rewrite model, or your own), else
    the rules."""
    backend = answer_backend(s)
    if backend == "claude":
        return ClaudeRewriter(
            s.anthropic_api_key or "", model=s.rewrite_model, base_url=s.anthropic_base_url
        )
    if backend == "openai":
        return OpenAIRewriter(chat_client_for(s))
    return RuleRewriter()


# A library --------------------------------------------------------------------------------
def open_library(
    s: Settings,
    *,
    workspace: str = DEFAULT_WORKSPACE,
    embedder: Embedder | None = None,
    answerer: Answerer | None = None,
    recover: bool = True,
    check_model: bool = True,
    vision_embedder: ColVisionEmbedder | None = None,
    decomposer: Decomposer | None = None,
    ocr_engine: OcrEngine | None = None,
) -> Library:
    """One workspace's library, its registry migrated and (on the writer) a crash repaired.

    ``decomposer``: who splits multi-part questions (default: ``decomposer_for(s)``)."""
    embedder = embedder or text_embedder_for(s)
    engine = create_engine(s.registry_url)
    registry = Registry(engine, workspace)
    registry.migrate()
    if check_model:
        check_embed_model(registry, embedder.name)
    if registry.meta(DENSE_TEXT_KEY) is None and not registry.documents():
        registry.set_meta(DENSE_TEXT_KEY, DENSE_TEXT_VERSION)  # new: nothing to embed again
    data, folder = s.data_dir, safe_folder(workspace)
    chroma = ChromaStore(
        path=None if s.chroma_host else data / "chroma",
        host=s.chroma_host,
        port=s.chroma_port,
        name=collection_name(workspace, embedder.name),
        model=embedder.name,
    )
    tokenizer = LexicalTokenizer()
    cache = EmbeddingCache(engine, workspace)
    images = PageImages(data / "pages" / folder)
    # Sentence vectors for the extractive answerer, embedded at ingest (issue 17).
    sentences = (
        SentenceVectors(embedder, cache)
        if answerer is None and answer_backend(s) == "extractive"
        else None
    )
    ingestor = Ingestor(
        registry, cache, embedder, chroma, tokenizer, images, data / "files" / folder,
        ingest_config(s), sentences,
    )  # fmt: skip
    builder = SnapshotBuilder(
        registry, cache, embedder, tokenizer, s.bm25_method, s.bm25_k1, s.bm25_b,
        s.chinese_bm25, s.index_segments,
    )  # fmt: skip
    merge = partial(merge_once, policy=MergePolicy()) if s.index_segments else None
    snapshots = SnapshotStore(
        (s.index_dir or data / "index") / folder, builder, s.chinese_bm25, merge
    )
    vision = VisionIndex(
        registry,
        images,
        data / "vision" / folder,
        vision_embedder or vision_embedder_for(s),
        vision_config(s),
    )
    ocr = OcrBacklog(
        registry,
        data / "files" / folder,
        data / "ocr" / folder,
        ocr_engine or OcrEngine(s.ocr_threads, s.ocr_workers, s.ocr_backend, s.ocr_precision),
        ocr_config(s),
    )
    ingestor.page_texts = ocr.page_texts  # OCR'd pages are indexed with their OCR text
    retriever = Retriever(
        registry,
        snapshots,
        tokenizer,
        embedder,
        chroma,
        retrieval_config(s),
        page_leg=vision if vision.state == "on" else None,
    )
    answerer = answerer or answerer_for(s, tokenizer, embedder, sentences)
    library = Library(
        s,
        registry,
        ingestor,
        retriever,
        answerer,
        images,
        vision,
        gate_model_for(s),
        claims=claim_check_for(s, tokenizer, embedder),
        answer_cache=AnswerCache(s.answer_cache) if s.answer_cache > 0 else None,
        decomposer=decomposer or decomposer_for(s),
        agent=agent_for(s, answerer, tokenizer, embedder),
        boxes=citation_boxes_for(registry, ingestor.files_dir, ocr.indexed_lines),
        ocr=ocr,
    )
    if recover and s.ingest_writer:  # a read replica never repairs the writer's work
        library.recover()
    return library


def citation_boxes_for(
    registry: Registry,
    files_dir: Path,
    ocr_lines: Callable[[str, int], Sequence[OcrLine]] | None = None,
) -> CitationBoxes:
    """Where citations are on their pages: an OCR'd page's line boxes (``ocr_lines``: of the
    pages indexed with their OCR text), else the stored PDF's character boxes."""

    def stored_file(doc_id: str) -> Path | None:
        stored = registry.file_path(doc_id)
        path = files_dir / stored if stored else None
        return path if path is not None and path.is_file() else None

    return CitationBoxes(stored_file, registry.page_text, ocr_lines)


def check_embed_model(registry: Registry, model: str) -> None:
    """A ``ConfigurationError`` when the library's vectors were built with another model."""
    built_with = registry.meta("embed_model")
    if built_with is None:
        registry.set_meta("embed_model", model)
    elif built_with != model:
        int8 = INT8_SUFFIX in built_with + model
        raise ConfigurationError(
            f"This library's vectors were built with the embedding model '{built_with}', but "
            f"the configured model is '{model}' (FOLIO_EMBED_MODEL"
            f"{'; +int8 is FOLIO_EMBED_BACKEND auto or openvino-int8' if int8 else ''}). "
            f"Configure '{built_with}' again, or re-embed the library with: "
            "python -m rag_core reembed"
        )
