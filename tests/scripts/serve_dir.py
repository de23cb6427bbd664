# Serves the directory DIR over HTTP on 127.0.0.1 (any free port) for browser tests; prints
# "ready PORT" once listening. Usage: serve_dir.py DIR
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))
print("ready %d" % server.server_address[1], flush=True)
server.serve_forever()
