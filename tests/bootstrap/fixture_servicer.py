"""A test servicer mounted through the real bootstrap: it sleeps, raises typed errors, or
crashes on request, so the bootstrap's behaviour can be observed over real gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc
from pydantic import BaseModel

from services.common.config import Settings
from services.common.errors import FailedPrecondition, NotFound
from services.common.grpc_server import Servicer, serve


class _Strict(BaseModel):
    age: int


log = logging.getLogger("fixture")


class ScriptedIdentity(pb_grpc.IdentityServiceServicer):
    async def GetCustomer(self, request, context):
        verb, _, arg = request.customer_id.partition(":")
        if verb == "log":
            log.info("looked up %s", arg)
        elif verb == "sleep":
            await asyncio.sleep(float(arg))
        elif verb == "notfound":
            raise NotFound(f"customer {arg} does not exist")
        elif verb == "precondition":
            raise FailedPrecondition("identifier belongs to another customer")
        elif verb == "invalid":
            _Strict(age=arg)  # raises pydantic.ValidationError
        elif verb == "crash":
            raise RuntimeError("secret internal detail")
        return pb.GetCustomerResponse(customer=pb.Customer(customer_id=request.customer_id))


async def build(resources: contextlib.AsyncExitStack) -> list[Servicer]:
    return [
        Servicer(
            pb_grpc.add_IdentityServiceServicer_to_server,
            ScriptedIdentity(),
            "fte.identity.v1.IdentityService",
        )
    ]


if __name__ == "__main__":
    # python tests/bootstrap/fixture_servicer.py PORT : the real `serve` entry point (ACCESS_ADDR
    # and SERVICE_KEY from the environment, as for every service).
    asyncio.run(serve("scripted", Settings(grpc_port=int(sys.argv[1]), grace_period_s=10), build))
