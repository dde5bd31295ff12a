"""The grpcurl examples in services/knowledge/README.md and services/agent/README.md work as
pasted, with the real grpcurl against the real Knowledge and Agent services, and leave the
seeded knowledge base as it was."""

from __future__ import annotations

import grpc
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb

from devstack import REPO_ROOT
from services.knowledge.articles import load_directory
from services.knowledge.settings import KNOWLEDGE_BASE_DIR
from tests.identity.test_readme_examples import _documents
from tests.running_services import rpc_error, run_readme_examples

KNOWLEDGE_README = REPO_ROOT / "services/knowledge/README.md"
AGENT_README = REPO_ROOT / "services/agent/README.md"


async def test_knowledge_and_agent_readme_examples_add_find_and_remove_an_article_and_ask_the_agent(
    agent_address, conversation_address, knowledge, tmp_path, admin_key):
    # The knowledge examples, then the agent's, as one script a reader pastes in turn. The
    # shared runner points the identity/conversation ports at the test services; the agent's
    # own port (it serves KnowledgeService too) is pointed here. Neither README calls identity.
    readme = tmp_path / "README.md"
    readme.write_text(
        "\n".join(r.read_text() for r in (KNOWLEDGE_README, AGENT_README)).replace(
            "127.0.0.1:50053", agent_address
        )
    )
    output = await run_readme_examples(readme, "127.0.0.1:1", conversation_address, admin_key)

    search, upsert, get, search_new, listed, deleted, respond = _documents(output)

    assert "api-401-unauthorized" in [r["slug"] for r in search["results"]]

    slug = upsert["article"]["slug"]
    assert slug.startswith("readme-") and slug.endswith("-export-link-validity")
    assert upsert["created"] is True and upsert["embedded"] is True
    assert get["article"]["slug"] == slug and "valid for 7 days" in get["article"]["body"]
    assert search_new["results"][0]["slug"] == slug
    assert 0 < len(listed["articles"]) <= 20
    assert {a["category"] for a in listed["articles"]} == {"billing"}
    assert deleted == {}
    assert "Code: NotFound" in output and output.rstrip().count("deleted") >= 1

    reply = " ".join(respond["reply"]["parts"])
    assert "Forgot password" in reply and "60 minutes" in reply
    assert not respond.get("escalated", False)
    assert "search_knowledge_base" in [t["name"] for t in respond["tool_calls"]]

    # The example article is gone and the seeded one it used to overwrite is untouched.
    err = await rpc_error(knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=slug)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    seeded = {a.slug: a for a in load_directory(KNOWLEDGE_BASE_DIR)}["export-data"]
    stored = await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id="export-data"))
    assert stored.article.content_hash == seeded.content_hash
