"""The local embedder runs the model once for every call that waited for it: calls arriving
while a run is going are encoded together in the next run, and each caller gets the vectors of
its own texts, the ones it would get alone; a caller that gives up, or whose texts break the
model, does not take the others with it; an embedder left waiting in a closed event loop serves
the next one."""

from __future__ import annotations

import asyncio

import numpy as np

from services.knowledge.embeddings import LocalEmbedder

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
