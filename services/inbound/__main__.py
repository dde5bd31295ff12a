"""python -m services.inbound: the inbound worker (fte.tickets.incoming → the services)."""

import asyncio

from services.inbound.worker import main

if __name__ == "__main__":
    asyncio.run(main())
