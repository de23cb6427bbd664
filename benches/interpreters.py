"""The interpreters pyprobe is checked against on this machine kind, for the bench scripts:
(label, path) in version order. Keep in step with tests/integration/harness.rs."""

PYENV = ["2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1",
         "3.13.0"]
DEBIAN = "/opt/debian-pythons/root/usr/bin/python"


def interpreters():
    out = [("pyenv-" + v, "/root/.pyenv/versions/%s/bin/python" % v) for v in PYENV]
    out.append(("debian-static-3.11", "/usr/bin/python3.11"))
    out += [("debian-" + v, DEBIAN + v) for v in ("3.13", "3.14", "3.15")]
    return out
