"""python -m services.channels: the outbound dispatcher."""

import asyncio

from services.channels.outbound_dispatcher import main

if __name__ == "__main__":
    asyncio.run(main())
