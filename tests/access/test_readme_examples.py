"""The grpcurl examples in services/access/README.md work as pasted."""

from __future__ import annotations

import json
import re

from devstack import REPO_ROOT
from tests.running_services import run_grpcurl_script


async def test_access_readme_examples_create_authenticate_audit_and_revoke(access_address, admin_key) -> None:
    readme = (REPO_ROOT / "services/access/README.md").read_text()
    script = "\n".join(b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "grpcurl" in b)
    script = script.replace("127.0.0.1:50056", access_address)
    script += f'\ngrpcurl -plaintext -H "authorization: Bearer $FTE_API_KEY" -d "{{\\"credential\\": \\"$KEY\\"}}" {access_address} ' \
              "fte.access.v1.AccessService/Authenticate 2>&1 || true\n"
    output = await run_grpcurl_script(script, admin_key)

    docs = [json.loads(d) for d in re.findall(r"^\{\n.*?^\}$", output, re.S | re.M)]
    authenticated, listed, recorded, audit, revoked = docs
    key_id = authenticated["principal"]["key_id"]
    assert authenticated["principal"]["role"] == "ROLE_ADMIN"
    assert key_id in [k["key_id"] for k in listed["keys"]]
    assert "secret" not in json.dumps(listed)
    assert audit["events"][0]["event_id"] == recorded["event"]["event_id"]
    assert revoked["key"]["key_id"] == key_id and "revoke_time" in revoked["key"]
    assert "Code: Unauthenticated" in output
