# A busy stack of 60 *different* functions (f0 -> f1 -> ... -> f59, the innermost spinning), as
# real programs have: every frame has its own code object, unlike deep_busy.py's recursion.
# Prints "ready" once the stack is complete. Python 2.7 compatible.
import sys

DEPTH = 60
source = []
for i in range(DEPTH - 1):
    source.append("def f%d():\n    return f%d()\n" % (i, i + 1))
source.append("def f%d():\n    sys.stdout.write('ready\\n')\n    sys.stdout.flush()\n"
              "    x = 0\n    while True:\n        x += 1\n" % (DEPTH - 1))
exec(compile("\n".join(source), __file__ + ":generated", "exec"))
f0()
