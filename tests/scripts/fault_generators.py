# Recursion through generators: gen(n) iterates gen(n - 1) DEPTH levels deep, and the innermost
# sleeps. Every level is a suspended-then-resumed generator frame on the stack at once.
# With the argument "yield_from" (3.3+), levels delegate with `yield from` instead of a loop.
# Prints "ready DEPTH". Python 2.7 compatible (the loop form).
import sys
import time

DEPTH = 200


def gen_loop(n):
    if n == 0:
        sys.stdout.write("ready %d\n" % DEPTH)
        sys.stdout.flush()
        while True:
            time.sleep(3600)  # LINE_GEN_SLEEP
            yield n
    for x in gen_loop(n - 1):  # LINE_GEN_LOOP
        yield x


def drive(make):
    for _ in make(DEPTH):  # LINE_DRIVE
        pass


if "yield_from" in sys.argv[1:]:
    # Compiled only where the syntax exists.
    namespace = {"sys": sys, "time": time, "DEPTH": DEPTH}
    exec(
        compile(
            "def gen_from(n):\n"
            "    if n == 0:\n"
            "        sys.stdout.write('ready %d\\n' % DEPTH)\n"
            "        sys.stdout.flush()\n"
            "        while True:\n"
            "            time.sleep(3600)\n"
            "            yield n\n"
            "    yield from gen_from(n - 1)\n",
            "fault_generators_from.py",
            "exec",
        ),
        namespace,
    )
    drive(namespace["gen_from"])  # LINE_DRIVE_FROM
else:
    drive(gen_loop)  # LINE_DRIVE_LOOP
