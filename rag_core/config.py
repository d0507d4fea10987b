"""Folio's settings: one frozen object, read from the environment in exactly one place.

``Settings(...)`` takes values only from its arguments (tests build it that way);
``Settings.from_env()`` reads ``FOLIO_*`` variables, the few conventional names
(``ANTHROPIC_API_KEY``, ``DATABASE_URL``, ``CHROMA_HOST`` ...) and a ``.env`` file.
Every field is documented in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag_core.errors import ConfigurationError

BUILTIN_EMBEDDER = "builtin:all-MiniLM-L6-v2"
DEFAULT_WORKSPACE = "default"


WORKSPACE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def check_workspace(name: str) -> str:
    """``name`` if it is a valid workspace name, else a ``ConfigurationError`` saying why."""
    if not isinstance(name, str) or not WORKSPACE_NAME.fullmatch(name):
        raise ConfigurationError(
            f"workspace {name!r}: use 1-40 lowercase letters, digits, '-' or '_',"
            " starting with a letter or digit"
        )
    return name


def safe_folder(workspace: str) -> str:
    """A workspace's name as a folder name (its data, pages, index and vision folders)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", workspace) or "default"


def is_loopback(host: str) -> bool:
    """Whether a listen address reaches only this machine (pure)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _env(name: str) -> AliasChoices:
    """Accept both ``FOLIO_NAME`` and a conventional unprefixed name."""
    return AliasChoices(name, f"FOLIO_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FOLIO_", frozen=True, extra="ignore", populate_by_name=True
    )

    # Where data lives.
    data_dir: Path = Path("data")
    db: Path = Path("feedback.db")
    database_url: str | None = Field(default=None, validation_alias=_env("DATABASE_URL"))

    # Documents.
    max_upload_mb: float = 200.0
    max_pages: int = 5000
    render_dpi: int = 150
    thumb_width: int = 240
    # What one file may cost to read; a file over a limit fails with a reason naming it.
    # Page images: a page is drawn at render_dpi, or smaller to stay within max_page_pixels
    # (A0 paper at 150 dpi is 35 megapixels); all of a document's pages within
    # max_document_pixels (5,000 A4 pages at 150 dpi are 10,900 megapixels).
    max_page_pixels: int = 40_000_000
    max_document_pixels: int = 12_000_000_000
    # Decoded PDF content pdfium parses for one page (a form counts each time it is drawn)
    # and for a document; the largest in 130 real reports: 1.0 MB a page, 30 MB a document.
    max_page_content_mb: float = 4.0
    max_document_content_mb: float = 512.0
    # CPU time pdfium may spend drawing one page, and all of a document's pages.
    max_page_render_seconds: float = 10.0
    max_document_render_seconds: float = 600.0
    # Unpacked XML of a Word file (python-docx holds about 9x that in memory).
    max_docx_xml_mb: float = 50.0

    # Chunking (sizes in tokens of the embedding model).
    chunk_tokens: int = 200
    chunk_overlap: int = 30
    # A chunk whose tokens the embedding model mostly cannot read is kept out of the dense leg.
    chunk_max_unknown_ratio: float = 0.5

    # Embeddings.
    embed_model: str = BUILTIN_EMBEDDER
    embed_device: str = "auto"
    embed_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    embed_batch: int = 32
    # Who embeds on a CPU: "auto" (int8 OpenVINO for the built-in model, OpenVINO for
    # others, when installed), "openvino-int8", "openvino" or "torch".
    embed_backend: Literal["auto", "openvino-int8", "openvino", "torch"] = "auto"
    # Where the int8 model is kept once quantized (default: <data_dir>/models); libraries
    # on one machine can share it.
    model_cache: Path | None = None

    # Retrieval.
    # "score" (weighted min-max normalised scores) won on every shared set with this chunker;
    # "rrf" (Reciprocal Rank Fusion) is the rank-only alternative, "zscore" the weighted sum of
    # z-score normalised scores (docs/benchmarks.md).
    fusion: Literal["rrf", "score", "zscore"] = "score"
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    # The section leg: BM25 over the headings above each chunk (a question naming "the cash
    # flow statement" or "the warranty section" finds the chunks under that heading).
    # 0.25: headings found in printed web pages and tables are noisy (issue 21, uda_ex).
    section_weight: float = 0.25
    # Pseudo-relevance feedback: the dense query moves towards the vectors of the first
    # fusion's top chunks (Rocchio), then the dense legs rank the candidates again. 0: off.
    feedback_chunks: int = 5
    feedback_weight: float = 0.3
    candidates: int = 100
    # Up to this many chunk vectors, a search of the whole library scans them exactly (the
    # same candidates after every restart); above it, Chroma's HNSW (faster, approximate,
    # and not the same from one process to the next). At 10k chunks the scan costs what
    # HNSW does; at 100k it made hybrid search 1.6x slower at p50 and p95 (docs/benchmarks.md,
    # "The same answer after a restart").
    exact_dense_max: int = 50_000
    # Questions of several parts searched once per part (rag_core/retrieve/decompose.py):
    # auto (the answering model proposes the parts, else the rules), rules, off.
    decompose: Literal["auto", "rules", "off"] = "auto"
    top_k: int = 8
    bm25_method: str = "lucene"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Whose BM25 statistics (document frequencies, average length) a filtered search uses:
    # "searched" (the documents searched, as an index of them alone would) or "library".
    bm25_scope: Literal["searched", "library"] = "searched"
    # How the chunk BM25 index reads Chinese (lexical.ChineseAnalysis): "grams" (characters
    # and character pairs) beat jieba's words on XQuAD-zh, CMRC 2018 and Traditional copies
    # of both, and the two combined on mean recall@1 (two fields: 0.002-0.003 better on the
    # CMRC pair, 0.007-0.012 worse on the XQuAD pair; one field: no better on any of the four;
    # docs/benchmarks.md, "Chinese lexical analysis"). The section leg, routing and the answer
    # checks keep jieba's words.
    chinese_bm25: Literal["jieba", "grams", "both", "fields"] = "grams"
    # Document routing: also search inside the documents a question names.
    route_docs: int = 3
    route_weight: float = 1.0
    # How much a document's cover page counts in routing, against its name and metadata.
    route_cover_weight: float = 0.2
    route_min_chunks: int = 4
    # A query whose tokens the embedding model mostly cannot read (e.g. Chinese for MiniLM)
    # skips the dense leg; above half this ratio the leg is down-weighted.
    max_unknown_ratio: float = 0.3

    # Vision index: page images read by a ColQwen2 / ColPali model (late interaction).
    vision_model: str = "vidore/colqwen2-v1.0-hf"
    # auto: on when the model is on this machine; on: refuse to start without it; off.
    vision_enabled: Literal["auto", "on", "off"] = "auto"
    vision_device: str = "auto"
    vision_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    vision_batch: int = 4
    vision_pool_factor: int = 3
    vision_max_image_tokens: int = 768
    vision_candidates: int = 128
    # Vectors per page in the vision search's first stage.
    vision_representatives: int = 16
    vision_weight: float = 1.0
    vision_answer_pages: int = 2

    # OCR of pages with no usable text layer (RapidOCR, offline). auto: on where the
    # package is installed; on: refuse to start without it; off.
    ocr: Literal["auto", "on", "off"] = "auto"
    # Pages read at once, each by its own copy of the OCR models running ocr_threads
    # threads: two pages of one thread each use the 2 cores with less CPU per page than
    # one page of two threads (docs/benchmarks.md, OCR, Speed).
    ocr_workers: int = 2
    ocr_threads: int = 1
    # Pages are drawn at this resolution for OCR; 150 dpi raised English CER 0.146 -> 0.217.
    ocr_dpi: int = 200
    # Who runs the OCR models: auto (OpenVINO where installed, else onnxruntime), openvino,
    # onnxruntime. In float32 OpenVINO reads the same text with 0.30x the CPU.
    ocr_backend: Literal["auto", "openvino", "onnxruntime"] = "auto"
    # OpenVINO's precision: auto (its default, the CPU's fastest: bfloat16 where the CPU has
    # AVX-512 BF16 or AMX, else float32) or f32 (the same text as onnxruntime). bfloat16
    # read 50 scanned pages in 0.57x the time of f32, English CER 0.099 -> 0.101, word
    # recall 0.959 -> 0.962 (docs/benchmarks.md, OCR, OpenVINO).
    ocr_precision: Literal["f32", "auto"] = "auto"

    # Answers. Who writes them: auto (Claude with ANTHROPIC_API_KEY, else the model at
    # llm_base_url when it is set, else extractive), claude, openai (llm_base_url), extractive.
    answerer: str = "auto"
    anthropic_api_key: str | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_API_KEY"), repr=False
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_BASE_URL")
    )
    claude_model: str = "claude-sonnet-4-6"
    # Rewrites follow-up questions into standalone queries (only with an API key).
    rewrite_model: str = "claude-haiku-4-5"
    answer_max_tokens: int = 1024
    # Your own model behind any OpenAI-compatible chat-completions server (Ollama, vLLM, ...).
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = Field(default=None, repr=False)  # local servers need none
    # Send pages found by their image to the model as images (a vision model).
    llm_vision: bool = False
    # Seconds to wait for the server (a connection, the first token, each next one).
    llm_timeout: float = 120.0
    # The extractive answerer quotes no sentence with less support than this.
    min_evidence: float = 0.2
    # The evidence gate's fitted model and threshold (JSON written by `calibrate`); unset =
    # the one shipped with Folio (rag_core/answer/gate.json).
    gate_model: Path | None = None
    # Each sentence of an answer checked against the passages it cites: "offline" (numbers,
    # names and words), "llm" (by the configured Claude) or "off".
    claim_check: Literal["offline", "llm", "off"] = "offline"
    # The offline check also weighs the embedding similarity of a sentence and its passages
    # (one embedding call per answer: far over the check's 20 ms budget on a CPU).
    claim_similarity: bool = False
    # Answers kept for questions asked again over the same library, filters and answerer
    # (any change to the library empties it; follow-ups are never served from it); 0: off.
    answer_cache: int = 256
    # Agentic retrieval (rag_core/answer/agentic.py): with a language model answering, a
    # question whose first search is below the evidence gate's threshold lets the model call
    # search and read_page tools: "auto" (then) or "off" (the gate refuses without calling
    # the model). At most agent_max_steps turns with tool calls, none started after
    # agent_budget_seconds.
    agent: Literal["auto", "off"] = "off"
    agent_max_steps: int = 4
    agent_budget_seconds: float = 60.0

    # Evaluation.
    eval_root: Path = Path("../shared/data")  # folders of evaluation sets (beir or pdfqa)
    judge_model: str | None = None  # the Claude model judging answers; default claude_model

    # Scale-out.
    chroma_host: str | None = Field(default=None, validation_alias=_env("CHROMA_HOST"))
    chroma_port: int = Field(default=8000, validation_alias=_env("CHROMA_PORT"))
    # One replica ingests (uploads, removals, re-indexing, crash recovery, vision indexing);
    # the others set this to false and only read.
    ingest_writer: bool = True
    # Where this process keeps its index snapshots (default: data_dir/index). A local folder
    # per replica means each builds its own snapshot from the shared registry.
    index_dir: Path | None = None
    # The index as segments (issue 17): a change writes one small segment, merged in the
    # background. False: every change writes the whole index again (the old way).
    index_segments: bool = True

    # Sources (watched folders). A new source syncs every source_every seconds unless told
    # otherwise (0: only when asked). A file changed less than source_settle_seconds ago may
    # still be being written: it waits for the next sync.
    source_every: int = 60
    source_settle_seconds: float = 2.0
    # Folders (separated by ":") inside which the web app and the HTTP API may add sources.
    # Unset: any folder while the server is local (loopback host, login off), none otherwise.
    # The command line may add any folder.
    source_roots: str | None = None

    # Web app.
    host: str = "127.0.0.1"
    port: int = 7860
    # Answers streamed at once through the Gradio queue; more wait their turn.
    chat_concurrency: int = 8
    # Longest question (or searched query) accepted, in characters (UI, API and CLI).
    max_query_chars: int = 2000

    # HTTP API (/api/v1). auto: a key is required once any key exists; on: always; off: never.
    # With the login on, or a host beyond loopback, a key is always required unless api_open.
    api_auth: Literal["auto", "on", "off"] = "auto"
    # The API is meant to be open (no key) even with the login on or on a network address.
    api_open: bool = False
    # Per API key (per client address without keys), in this process: a token bucket.
    api_rate_per_minute: float = 60.0
    api_burst: int = 20
    # Answers kept in memory (per process) so that they can be rated through POST /feedback.
    api_answers_kept: int = 2000
    # off: everyone uses the "default" workspace; on: log in, each account sees its workspace.
    login: Literal["off", "on"] = "off"
    # With the login on: the accounts (comma-separated names) that may start evaluation runs
    # in the app (one app-wide run at a time, CPU-bound); unset: nobody, the CLI still can.
    eval_admins: str | None = None

    @field_validator("chunk_tokens")
    @classmethod
    def _chunk_tokens_positive(cls, value: int) -> int:
        if value < 16:
            raise ValueError("chunk_tokens must be at least 16")
        return value

    @field_validator(
        "max_query_chars",
        "api_burst",
        "api_answers_kept",
        "vision_batch",
        "vision_pool_factor",
        "vision_candidates",
        "vision_representatives",
        "agent_max_steps",
        "ocr_workers",
        "ocr_threads",
        "ocr_dpi",
    )
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        return value

    @field_validator("api_rate_per_minute")
    @classmethod
    def _rate_positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("api_rate_per_minute must be more than 0")
        return value

    @field_validator(
        "max_page_pixels",
        "max_document_pixels",
        "max_page_content_mb",
        "max_document_content_mb",
        "max_page_render_seconds",
        "max_document_render_seconds",
        "max_docx_xml_mb",
        "llm_timeout",
        "agent_budget_seconds",
    )
    @classmethod
    def _limit_positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be more than 0")
        return value

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("chunk_overlap must be 0 or more")
        return value

    @field_validator(
        "section_weight",
        "exact_dense_max",
        "feedback_weight",
        "feedback_chunks",
        "source_every",
        "source_settle_seconds",
        "answer_cache",
    )
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if not value >= 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("vision_max_image_tokens")
    @classmethod
    def _image_tokens(cls, value: int) -> int:
        if value < 4:
            raise ValueError("vision_max_image_tokens must be at least 4")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Plain construction reads nothing from the environment: values are passed in.
        return (init_settings,)

    @classmethod
    def from_env(cls, env_file: str | Path | None = ".env") -> Settings:
        """The one place Folio reads its configuration from the environment."""
        return _EnvSettings(_env_file=env_file)  # type: ignore[call-arg]

    # Derived locations -----------------------------------------------------------------
    @property
    def registry_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'library.db'}"

    @property
    def feedback_url(self) -> str:
        return self.database_url or f"sqlite:///{self.db}"

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache or self.data_dir / "models"

    @property
    def eval_admin_names(self) -> frozenset[str]:
        """``eval_admins`` as lower-case account names (account names are case-insensitive)."""
        names = (self.eval_admins or "").split(",")
        return frozenset(n.strip().lower() for n in names if n.strip())

    @property
    def source_root_folders(self) -> tuple[Path, ...] | None:
        """Where the web app and the API may add sources: ``None`` anywhere (a local server
        without ``source_roots``), else these folders (none where the server is exposed)."""
        if self.source_roots:
            return tuple(Path(p).expanduser() for p in self.source_roots.split(os.pathsep) if p)
        if self.login == "off" and is_loopback(self.host):
            return None
        return ()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def has_claude(self) -> bool:
        return bool(self.anthropic_api_key)


class _EnvSettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings)
