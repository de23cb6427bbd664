# Creates objects with a Python __init__ in a tight loop. On 3.13+ the specialized call runs each
# __init__ under a trampoline frame (`_Py_InitCleanup`, named "__init__" in file "__init__");
# on 3.12+ the evaluation loop's entry frames come and go on the C stack. Every sampled stack
# must still start at <module> and show no trampoline. Python 2.7 compatible.
import sys


class Made(object):
    def __init__(self):
        x = 0
        for i in range(10):
            x += i  # LINE_INIT


sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    Made()  # LINE_MAKE
