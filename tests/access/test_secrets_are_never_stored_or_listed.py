"""A key's secret leaves the service once, in CreateApiKey's answer: the table holds only an
argon2id hash of it and ListApiKeys shows metadata only."""

from __future__ import annotations

from argon2 import PasswordHasher
from fte.access.v1 import access_service_pb2 as pb


async def test_the_table_holds_only_an_argon2id_hash_of_the_secret(access, admin_db) -> None:
    created = await access.CreateApiKey(pb.CreateApiKeyRequest(name="hash probe", role=pb.ROLE_ADMIN))
    secret = created.secret.split("_", 2)[2]

    row = await admin_db.fetchrow("SELECT * FROM access.api_keys WHERE key_id = $1", created.key.key_id)

    assert row["secret_hash"].startswith("$argon2id$")
    assert PasswordHasher().verify(row["secret_hash"], secret)
    assert not any(secret in str(value) for value in row.values())


async def test_listing_keys_shows_no_secret_and_no_hash(access, admin_db) -> None:
    created = await access.CreateApiKey(pb.CreateApiKeyRequest(name="list probe", role=pb.ROLE_VIEWER))
    secret_hash = await admin_db.fetchval(
        "SELECT secret_hash FROM access.api_keys WHERE key_id = $1", created.key.key_id)

    listed = await access.ListApiKeys(pb.ListApiKeysRequest(include_revoked=True))
    wire = listed.SerializeToString()

    mine = [k for k in listed.keys if k.key_id == created.key.key_id]
    assert [(k.name, k.role) for k in mine] == [("list probe", pb.ROLE_VIEWER)]
    assert created.secret.split("_", 2)[2].encode() not in wire
    assert secret_hash.encode() not in wire
    assert b"argon2" not in wire
