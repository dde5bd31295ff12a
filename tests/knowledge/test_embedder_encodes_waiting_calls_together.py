"""The local embedder runs the model once for every call that waited for it: calls arriving
while a run is going are encoded together in the next run, and each caller gets the vectors of
its own texts, the ones it would get alone; a caller that gives up, or whose texts break the
model, does not take the others with it; an embedder left waiting in a closed event loop serves
the next one. While calls come in together, a run waits up to the batch wait for more to share
it; a caller alone never waits."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from services.knowledge.embeddings import BATCH_WAIT_MS, LocalEmbedder

QUESTIONS = [
    "How do I reset my password?",
    "Which cards do you accept?",
    "I was charged twice for my subscription this month, please refund the extra charge.",
    "Can I export my boards to CSV?",
    "The mobile app crashes when I open a board with attachments",
    "Does Flowboard integrate with Slack and GitHub?",
]


def _close(got: list[list[float]], alone: list[list[float]]) -> bool:
    return np.allclose(np.asarray(got), np.asarray(alone), atol=1e-5)


async def test_calls_that_wait_are_encoded_together_and_each_gets_its_own_vectors():
    embedder = LocalEmbedder()
    alone = {q: (await embedder.embed([q]))[0] for q in QUESTIONS}
    runs = embedder.runs
    assert runs == len(QUESTIONS)  # one after another: a run each

    first = asyncio.create_task(embedder.embed(QUESTIONS[:1]))
    while embedder.runs == runs:  # the first call's run has started
        await asyncio.sleep(0)
    rest = [QUESTIONS[1:3], QUESTIONS[3:4], QUESTIONS[4:]]
    answers = await asyncio.gather(first, *(embedder.embed(texts) for texts in rest))

    assert embedder.runs == runs + 2, "the calls that waited did not share one run"
    for texts, vectors in zip([QUESTIONS[:1], *rest], answers, strict=True):
        assert len(vectors) == len(texts)
        assert _close(vectors, [alone[t] for t in texts])


async def test_a_caller_that_gives_up_leaves_the_others_their_answers():
    embedder = LocalEmbedder()
    calls = [asyncio.create_task(embedder.embed([q])) for q in QUESTIONS[:3]]
    await asyncio.sleep(0)
    calls[1].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(done[1], asyncio.CancelledError)
    assert _close(done[0], await embedder.embed(QUESTIONS[:1]))
    assert _close(done[2], await embedder.embed(QUESTIONS[2:3]))


async def test_a_call_that_breaks_the_model_fails_alone():
    embedder = LocalEmbedder()
    # Not text: the tokenizer refuses it, and the run it shared with the others fails.
    runs = embedder.runs
    fine, broken, also_fine = await asyncio.wait_for(asyncio.gather(
        embedder.embed(QUESTIONS[:1]), embedder.embed([None]), embedder.embed(QUESTIONS[1:2]),
        return_exceptions=True), 30)

    # One shared run that failed, then each call alone.
    assert embedder.runs == runs + 4

    assert isinstance(broken, Exception)
    assert _close(fine, await embedder.embed(QUESTIONS[:1]))
    assert _close(also_fine, await embedder.embed(QUESTIONS[1:2]))


def test_an_embedder_left_waiting_in_a_closed_event_loop_serves_the_next_one():
    embedder = LocalEmbedder()
    old = asyncio.new_event_loop()
    old.create_task(embedder.embed(QUESTIONS[:1]))
    old.run_until_complete(asyncio.sleep(0))  # its run has started; the loop closes under it
    old.close()

    async def next_loop():
        return await asyncio.wait_for(embedder.embed(QUESTIONS[1:2]), 30)

    assert len(asyncio.run(next_loop())) == 1


async def test_calls_that_come_together_wait_for_more_to_share_their_run():
    # A run that calls came together for waits until its oldest call has waited batch_wait_ms:
    # calls made meanwhile, even after the run before it ended, share it.
    embedder = LocalEmbedder(batch_wait_ms=1000)
    alone = {q: (await LocalEmbedder(batch_wait_ms=0).embed([q]))[0] for q in QUESTIONS}
    runs = embedder.runs

    first = asyncio.create_task(embedder.embed(QUESTIONS[:1]))
    while embedder.runs == runs:  # the first call's run has started
        await asyncio.sleep(0)
    second = asyncio.create_task(embedder.embed(QUESTIONS[1:2]))  # came during that run
    assert _close(await first, [alone[QUESTIONS[0]]])
    await asyncio.sleep(0.1)  # the first run is over; the second call still waits
    assert not second.done()
    later = [QUESTIONS[2:4], QUESTIONS[4:]]
    answers = await asyncio.wait_for(asyncio.gather(second, *(embedder.embed(t) for t in later)), 30)

    assert embedder.runs == runs + 2, "the calls made during the wait did not share its run"
    for texts, vectors in zip([QUESTIONS[1:2], *later], answers, strict=True):
        assert _close(vectors, [alone[t] for t in texts])


async def test_a_caller_that_calls_again_after_each_answer_never_waits():
    # Nothing came while its calls waited or ran: waiting could only delay it. With the longest
    # wait allowed, five calls one after another take far less than one wait.
    embedder = LocalEmbedder(batch_wait_ms=1000)
    await embedder.embed(QUESTIONS[:1])  # the model loaded
    loop = asyncio.get_running_loop()
    start = loop.time()
    for question in QUESTIONS[1:]:
        await embedder.embed([question])
    assert loop.time() - start < 1.0
    assert embedder.runs == len(QUESTIONS)


@pytest.mark.parametrize("value", ["-1", "1001", "soon", "nan"])
def test_a_batch_wait_that_is_not_milliseconds_from_0_to_1000_is_refused(monkeypatch, value):
    monkeypatch.setenv("FTE_EMBEDDING_BATCH_WAIT_MS", value)
    with pytest.raises(ValueError, match="FTE_EMBEDDING_BATCH_WAIT_MS must be milliseconds from 0 to 1000"):
        LocalEmbedder()
    if value != "soon":
        with pytest.raises(ValueError, match="batch_wait_ms must be milliseconds"):
            LocalEmbedder(batch_wait_ms=float(value))


def test_the_batch_wait_comes_from_the_environment_or_its_default(monkeypatch):
    monkeypatch.delenv("FTE_EMBEDDING_BATCH_WAIT_MS", raising=False)
    assert LocalEmbedder().batch_wait_s == BATCH_WAIT_MS / 1000
    monkeypatch.setenv("FTE_EMBEDDING_BATCH_WAIT_MS", "0")
    assert LocalEmbedder().batch_wait_s == 0
    monkeypatch.setenv("FTE_EMBEDDING_BATCH_WAIT_MS", " 12.5 ")
    assert LocalEmbedder().batch_wait_s == 0.0125
