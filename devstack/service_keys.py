"""A service key for every process that calls or serves gRPC: an API key of role `service`
named after the process (`AppProcess.service_identity`), handed to it as SERVICE_KEY. The
method rules in the contracts name these identities (`services: "inbound"`), so each process
may call only what it needs.

Made through the same code as CreateApiKey (argon2 hash stored, the key itself only in the
child's environment). `replace=True` (make run) first revokes the previous run's keys of each
name, so restarts do not pile up valid keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from devstack.migrate import service_dsn
from devstack.processes import AppProcess
from devstack.stack import Endpoints
from services.access import api_keys
from services.access.store import AccessStore
from services.common.db import open_pool


async def issue(processes: Sequence[AppProcess], endpoints: Endpoints, *,
                replace: bool = False) -> list[AppProcess]:
    """`processes`, each with a service identity given SERVICE_KEY in its env."""
    names = {p.service_identity for p in processes if p.service_identity}
    if not names:
        return list(processes)
    pool = await open_pool(service_dsn(endpoints.admin_dsn, "access"), min_size=1, max_size=1)
    try:
        store = AccessStore(pool)
        if replace:
            for old in await store.list_keys(include_revoked=False):
                if old.role == "service" and old.name in names:
                    await api_keys.revoke(store, old.key_id)
        issued = {name: (await api_keys.create(store, name, "service"))[1] for name in sorted(names)}
    finally:
        await pool.close()
    return [
        dataclasses.replace(p, env={**p.env, "SERVICE_KEY": issued[p.service_identity]})
        if p.service_identity else p
        for p in processes
    ]
