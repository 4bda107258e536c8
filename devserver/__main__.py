"""`python -m devserver` (`make run`)."""

import asyncio

from devserver.supervisor import main

if __name__ == "__main__":
    asyncio.run(main())
