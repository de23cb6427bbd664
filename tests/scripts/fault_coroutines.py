# Recursion through coroutines (3.6+): `await coro(n - 1)` DEPTH levels deep under asyncio, and
# the innermost blocks in time.sleep (a real sleep: the event loop is stuck inside the stack,
# so every coroutine frame is on it). Prints "ready DEPTH".
import asyncio
import sys
import time

DEPTH = 200


async def coro(n):
    if n == 0:
        sys.stdout.write("ready %d\n" % DEPTH)
        sys.stdout.flush()
        while True:
            time.sleep(3600)  # LINE_CORO_SLEEP
    return await coro(n - 1)  # LINE_CORO_AWAIT


async def main():
    await coro(DEPTH)  # LINE_MAIN_AWAIT


loop = asyncio.new_event_loop()
loop.run_until_complete(main())  # LINE_RUN
