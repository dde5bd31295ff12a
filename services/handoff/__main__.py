"""python -m services.handoff: the escalation notifier (fte.escalations → the teams)."""

from services.common import loop
from services.handoff.notifier import main

if __name__ == "__main__":
    loop.run(main())
