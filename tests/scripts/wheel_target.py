# The target of tools/check-wheel: prints "ready", then sleeps in wheel_target_sleeps() until
# killed (or for 120 s, a safety net).
import time


def wheel_target_sleeps():
    print("ready", flush=True)
    end = time.time() + 120
    while time.time() < end:
        time.sleep(0.05)


wheel_target_sleeps()
