"""A local stand-in for the OpenAI API (the one outside service the agent talks to), speaking
its wire format over real HTTP: POST /v1/chat/completions with function calling, and
POST /v1/embeddings (float or base64 vectors).

The chat endpoint behaves like a tool-using LLM following the agent's instructions: first turn
it calls create_ticket, get_customer_history and search_knowledge_base; once the search
answers it replies through send_response with the leading sentences of the best article (or
escalates after an empty search). Tests can force the final text (`reply_text`) to see what
the guardrails do with a price, a promise or an over-long answer. Every request is kept for
assertions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

EMBEDDING_DIMENSIONS = 1536
PROMPT_TOKENS = 120
COMPLETION_TOKENS = 30


def fake_embedding(text: str, dims: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Hashed bag of words: texts sharing words point the same way, like a real embedding."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]{3,}", text.lower()):
        digest = hashlib.md5(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dims
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


@dataclass
class FakeOpenAI:
    # (user text, search results) -> the final reply text; None: quote the best article.
    reply_text: Callable[[str, list[dict[str, Any]]], str] | None = None
    # user text -> the query it searches with (a real model translates, rephrases...).
    search_query: Callable[[str], str] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    embedded_texts: list[str] = field(default_factory=list)
    base_url: str = ""

    def reset(self) -> None:
        self.reply_text = None
        self.search_query = None
        self.requests.clear()
        self.headers.clear()
        self.embedded_texts.clear()

    # --- chat -----------------------------------------------------------------------------

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        user_text = next(m["content"] for m in messages if m["role"] == "user")
        if isinstance(user_text, list):
            user_text = " ".join(p.get("text", "") for p in user_text)
        calls = {}
        for m in messages:
            for call in m.get("tool_calls") or []:
                calls[call["id"]] = call["function"]
        results = [
            (calls.get(m["tool_call_id"], {}).get("name"), json.loads(m["content"]))
            for m in messages if m["role"] == "tool"
        ]
        if not results:
            return self._tool_calls([
                ("create_ticket", {}),
                ("get_customer_history", {}),
                ("search_knowledge_base", {
                    "query": self.search_query(user_text) if self.search_query else user_text}),
            ])
        escalations = [r for name, r in results if name == "escalate_to_human"]
        if escalations:
            return self._tool_calls([("send_response", {
                "message": escalations[-1]["handover_message"], "article_ids": []})])
        searches = [r for name, r in results if name == "search_knowledge_base"]
        found = searches[-1].get("results", []) if searches else []
        if not found:
            return self._tool_calls([("escalate_to_human", {
                "reason": "search_failed", "note": "nothing in the knowledge base"})])
        if self.reply_text is not None:
            text = self.reply_text(user_text, found)
        else:
            text = " ".join(re.split(r"(?<=[.!?])\s+", found[0]["body"].strip())[:2])
        return self._tool_calls([("send_response", {
            "message": text, "article_ids": [found[0]["article_id"]]})])

    def _tool_calls(self, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for name, args in calls
            ],
        }

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            message = self._next(body)
            return JSONResponse({
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [{
                    "index": 0, "message": message,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }],
                "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                          "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
            })

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            self.embedded_texts.extend(texts)
            data = []
            for i, text in enumerate(texts):
                vector = fake_embedding(text)
                if body.get("encoding_format") == "base64":
                    encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                else:
                    encoded = vector
                data.append({"object": "embedding", "index": i, "embedding": encoded})
            tokens = sum(len(t.split()) for t in texts)
            return JSONResponse({"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        return app


@contextlib.asynccontextmanager
async def serving(fake: FakeOpenAI) -> AsyncIterator[FakeOpenAI]:
    """Runs the fake on 127.0.0.1 (a free port) until the block ends."""
    config = uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
