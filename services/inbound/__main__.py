"""python -m services.inbound: the inbound worker (fte.tickets.incoming → the services)."""

from services.common import loop
from services.inbound.worker import main

if __name__ == "__main__":
    loop.run(main())
