# Call-heavy standard-library work, endlessly, for checking sample proportions where the stack
# changes fastest: many short Python calls, a few long C calls.
#
#   call_heavy.py difflib   SequenceMatcher and unified_diff over generated text
#   call_heavy.py json      the pure-Python JSON encoder and decoder (C accelerators off)
#   call_heavy.py html      html.parser over a generated page, plus textwrap
#   call_heavy.py pickle    the pure-Python pickler and unpickler over nested data
#
# Prints "ready" once the first round has run (imports done, caches warm).
# Python 2.7 compatible.
import random
import sys


def text(rng, lines):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    return ["%s %d %s" % (rng.choice(words), rng.randint(0, 9), rng.choice(words))
            for _ in range(lines)]


def difflib_round(rng):
    import difflib
    a = text(rng, 300)
    b = list(a)
    for _ in range(40):
        b[rng.randrange(len(b))] = " ".join(text(rng, 1))
    list(difflib.unified_diff(a, b, lineterm=""))
    difflib.SequenceMatcher(None, " ".join(a[:60]), " ".join(b[:60])).ratio()


def json_setup():
    import json
    import json.decoder
    import json.encoder
    import json.scanner
    # Pure Python throughout: many small calls, as a hand-written parser or encoder makes.
    json.encoder.c_make_encoder = None
    if hasattr(json.encoder, "encode_basestring_ascii"):
        json.encoder.encode_basestring_ascii = json.encoder.py_encode_basestring_ascii
    json.decoder.scanstring = json.decoder.py_scanstring
    json.scanner.make_scanner = json.scanner.py_make_scanner
    json.decoder.make_scanner = json.scanner.py_make_scanner
    return json


def json_round(rng, json=None):
    doc = [{"id": i, "name": "item %d" % i, "tags": ["a", "b", "c"][: i % 4],
            "price": i * 1.25, "nested": {"ok": i % 2 == 0, "list": list(range(i % 7))}}
           for i in range(150)]
    encoder = json.JSONEncoder(indent=1)
    decoder = json.JSONDecoder()
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    s = encoder.encode(doc)
    decoder.decode(s)


def html_round(rng):
    try:
        from html.parser import HTMLParser
    except ImportError:
        from HTMLParser import HTMLParser
    import textwrap

    class Counter(HTMLParser):
        def __init__(self):
            HTMLParser.__init__(self)
            self.tags = 0

        def handle_starttag(self, tag, attrs):
            self.tags += 1

    rows = "".join('<tr class="r%d"><td id="c%d">%s</td><td><a href="/x/%d">link</a></td></tr>'
                   % (i % 3, i, " ".join(text(rng, 1)), i) for i in range(200))
    parser = Counter()
    parser.feed("<html><body><table>%s</table></body></html>" % rows)
    parser.close()
    textwrap.fill(" ".join(text(rng, 80)), width=40)


def pickle_round(rng):
    import pickle
    data = [{"k%d" % i: [i, str(i), (i, i * 2.0)], "s": set([i, i + 1])} for i in range(120)]
    buf = []

    class Sink(object):
        def write(self, b):
            buf.append(b)

    getattr(pickle, "_Pickler", pickle.Pickler)(Sink(), 2).dump(data)
    raw = b"".join(buf)
    import io
    getattr(pickle, "_Unpickler", pickle.Unpickler)(io.BytesIO(raw)).load()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "difflib"
    rng = random.Random(1)
    if mode == "json":
        json = json_setup()

        def work():
            json_round(rng, json)
    else:
        work = {"difflib": lambda: difflib_round(rng), "html": lambda: html_round(rng),
                "pickle": lambda: pickle_round(rng)}[mode]
    work()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        work()


main()
