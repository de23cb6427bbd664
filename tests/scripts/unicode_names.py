# -*- coding: utf-8 -*-
# Non-ASCII names for `dump`. Python 2.7 compatible (its identifiers are ASCII: there only the
# thread name is non-ASCII, a UTF-8 byte string, since 2.7's threading calls str() on names).
# On Python 3, unicode_names_py3.txt is compiled under a non-ASCII file name with a 4-byte
# character, and defines a CJK class with a method whose name ends in a 4-byte character, calling
# a Latin-1 named function (1-byte str kind) that calls a Greek one (2-byte kind).
import os
import sys
import threading
import time


def thread_body(started):
    started.set()
    while True:
        time.sleep(3600)  # LINE_THREAD


def plain_sleep():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)  # LINE_PLAIN


started = threading.Event()
t = threading.Thread(target=thread_body, name="тред-1", args=(started,))
t.daemon = True
t.start()
started.wait()

if sys.version_info[0] >= 3:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "unicode_names_py3.txt"), "rb") as f:
        source = f.read()
    code = compile(source, "ünï_\U00020000.py", "exec")
    exec(code, {"__name__": "unicode_py3", "sys": sys, "time": time})  # LINE_EXEC
else:
    plain_sleep()  # LINE_CALL_PLAIN
