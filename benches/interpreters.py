"""The interpreters pyprobe is checked against, for the bench scripts: read from
tests/interpreters.txt, the one list (its header says what the columns mean)."""

import functools
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "tests", "interpreters.txt")
INSTALL_DEBIAN = os.path.join(ROOT, "tools", "install-debian-pythons")


def listed():
    """Every line of the list: (label, where, (major, minor), tags), in its order."""
    out = []
    with open(LIST) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) not in (3, 4):
                raise ValueError("%s: %r is not `label where version [tags]`" % (LIST, line))
            major, minor = words[2].split(".")
            tags = words[3].split(",") if len(words) == 4 else []
            out.append((words[0], words[1], (int(major), int(minor)), tags))
    return out


@functools.lru_cache(maxsize=None)
def _debian_paths():
    """What tools/install-debian-pythons prints: one `.../pythonX.Y` per Debian build (it
    installs them on first use, as root)."""
    res = subprocess.run(["bash", INSTALL_DEBIAN], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True)
    return res.stdout.split()


def _path(where):
    if where.startswith("debian:"):
        name = "python" + where[len("debian:"):]
        found = [p for p in _debian_paths() if os.path.basename(p) == name]
        if not found:
            raise RuntimeError("tools/install-debian-pythons did not print a %s" % name)
        return found[0]
    if where.startswith("pyenv:"):
        root = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
        return os.path.join(root, "versions", where[len("pyenv:"):], "bin", "python")
    return where


def interpreters():
    """(label, path) of every interpreter, in the list's order (oldest version first)."""
    return [(label, _path(where)) for label, where, _, _ in listed()]


def first_of(version):
    """(X.Y, path) of the first interpreter listed for `version` ("3.11"): the pyenv build where
    there is one, as the list puts those first."""
    for _, where, v, _ in listed():
        if "%d.%d" % v == version:
            return version, _path(where)
    raise KeyError("no %s in %s" % (version, LIST))
