"""python -m services.channels: the outbound dispatcher."""

from services.channels.outbound_dispatcher import main
from services.common import loop

if __name__ == "__main__":
    loop.run(main())
