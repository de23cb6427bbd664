#!/usr/bin/env python3
"""Generate python_versions/src/vX_Y.rs from each CPython version's installed headers, and the
registry of them (src/registry.rs).

The versions are the lines of tests/interpreters.txt tagged `headers`, oldest first. For each,
this compiles probe.c (next to this script) with gcc against that version's include directory,
with -DPy_BUILD_CORE so the internal/ headers can be used, runs it, and writes the printed
offsets into one `Layout` constant per version; src/registry.rs declares the tables and lists
them in LAYOUTS.

    generate.py            rewrite every src/vX_Y.rs and src/registry.rs
    generate.py --check    regenerate in memory; exit 1 with a diff if a committed file differs

The field list and its order come from `pub struct Layout` in src/lib.rs, so a field added there
without a matching probe line (or the reverse) is an error. Headers of a version that are not
installed are an error too, never a silent skip.
"""

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
SRC = CRATE / "src"
PROBE = HERE / "probe.c"
SCRIPT_NAME = "python_versions/generator/generate.py"
INTERPRETERS = CRATE.parent / "tests" / "interpreters.txt"

PYENV = Path(os.environ.get("PYENV_ROOT") or "/root/.pyenv") / "versions"
DEBIAN = Path("/opt/debian-pythons/root/usr/include")

PYENV_HINT = "install it with `pyenv install {full}`"
DEBIAN_HINT = "install them with `tools/install-debian-pythons` (run as root from the repository root)"


def pyenv(full):
    # 3.7 and older name the directory after the ABI flags too (python3.6m).
    major_minor = ".".join(full.split(".")[:2])
    names = ["python" + major_minor, "python%sm" % major_minor]
    include = next((PYENV / full / "include" / n for n in names
                    if (PYENV / full / "include" / n).exists()), PYENV / full / "include" / names[0])
    return {
        "include": include,
        "extra": [],
        "hint": PYENV_HINT.format(full=full),
    }


def debian(minor):
    # Debian's pythonX.Y/pyconfig.h is a multiarch wrapper that includes
    # <x86_64-linux-gnu/pythonX.Y/pyconfig.h>, hence the two extra directories.
    name = "python%s" % minor
    return {
        "include": DEBIAN / name,
        "extra": [DEBIAN / "x86_64-linux-gnu" / name, DEBIAN],
        "hint": DEBIAN_HINT,
    }


def versions():
    """[((major, minor), where its headers are)] from the lines of tests/interpreters.txt tagged
    `headers`. Oldest first; this is also the order of LAYOUTS."""
    out = []
    for line in INTERPRETERS.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 4 or "headers" not in words[3].split(","):
            continue
        label, where, version = words[:3]
        major, minor = (int(x) for x in version.split("."))
        if where.startswith("pyenv:"):
            headers = pyenv(where[len("pyenv:"):])
        elif where.startswith("debian:"):
            headers = debian(where[len("debian:"):])
        else:
            raise GenerateError("%s: %s: headers are found for pyenv: and debian: entries only"
                                % (INTERPRETERS, label))
        out.append(((major, minor), headers))
    listed = [v for v, _ in out]
    if listed != sorted(set(listed)):
        raise GenerateError("%s: the `headers` lines must name each version once, oldest first: %s"
                            % (INTERPRETERS, listed))
    return out


CFLAGS = ["-std=gnu11", "-O0", "-w", "-DPy_BUILD_CORE"]


class GenerateError(Exception):
    pass


def layout_fields():
    """Field names of `pub struct Layout` in src/lib.rs, in declaration order."""
    text = (SRC / "lib.rs").read_text()
    m = re.search(r"pub struct Layout \{(.*?)\n\}", text, re.S)
    if not m:
        raise GenerateError("src/lib.rs: `pub struct Layout { ... }` not found")
    fields = re.findall(r"^\s*pub (\w+):", m.group(1), re.M)
    if fields[:3] != ["version", "source_version", "debug_offsets"]:
        raise GenerateError(
            "src/lib.rs: Layout must start with `version`, `source_version`, `debug_offsets`")
    return fields[3:]


def header_version(include):
    text = (include / "patchlevel.h").read_text()
    m = re.search(r'#define\s+PY_VERSION\s+"([^"]+)"', text)
    if not m:
        raise GenerateError("%s/patchlevel.h: PY_VERSION not found" % include)
    return m.group(1)


def check_headers(versions):
    """Every version's headers must be installed: name all that are not, with how to fix it."""
    problems = []
    for version, where in versions:
        missing = [p for p in [where["include"] / "Python.h"] + where["extra"] if not p.exists()]
        if missing:
            problems.append(
                "headers for CPython %d.%d are missing (%s); %s"
                % (version + (", ".join(str(p) for p in missing), where["hint"]))
            )
    if problems:
        raise GenerateError("\n  ".join([""] + problems))


def run_probe(version, where, workdir):
    include = where["include"]
    exe = Path(workdir) / ("probe_%d_%d" % version)
    cmd = [os.environ.get("CC", "gcc")] + CFLAGS + ["-I%s" % include]
    cmd += ["-I%s" % p for p in where["extra"]]
    cmd += [str(PROBE), "-o", str(exe)]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if res.returncode != 0:
        raise GenerateError(
            "compiling the probe for %d.%d failed:\n$ %s\n%s"
            % (version + (" ".join(cmd), res.stderr))
        )
    res = subprocess.run([str(exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if res.returncode != 0:
        raise GenerateError("the probe for %d.%d failed: %s" % (version + (res.stderr.strip(),)))
    return res.stdout


def parse_probe(version, output, fields):
    values, mirrors, debug, seen_version = {}, [], [], None
    for line in output.splitlines():
        parts = line.split("\t")
        if parts[0] == "#version":
            seen_version = ((int(parts[1]), int(parts[2])), parts[3])
        elif parts[0] == "#mirror":
            mirrors.append((parts[1], parts[2]))
        elif parts[0] == "#debug":
            if any(name == parts[1] for name, _ in debug):
                raise GenerateError("%d.%d: probe printed #debug %s twice" % (version + (parts[1],)))
            debug.append((parts[1], int(parts[2])))
        else:
            name, value, how = parts
            if name in values:
                raise GenerateError("%d.%d: probe printed %s twice" % (version + (name,)))
            values[name] = (None if value == "ABSENT" else int(value), how)
    if seen_version is None or seen_version[0] != version:
        raise GenerateError("%d.%d: the probe reports version %r" % (version + (seen_version,)))
    extra = sorted(set(values) - set(fields))
    lacking = [f for f in fields if f not in values]
    if extra or lacking:
        raise GenerateError(
            "%d.%d: probe.c and `struct Layout` disagree: not in Layout: %s; not probed: %s"
            % (version + (extra or "-", lacking or "-"))
        )
    return values, mirrors, debug


def render(version, full, where, values, mirrors, debug, fields):
    include = where["include"]
    out = [
        "// generated by %s from CPython %s headers at %s; do not edit" % (SCRIPT_NAME, full, include),
        "//",
    ]
    flags = " ".join(CFLAGS + ["-I%s" % include] + ["-I%s" % p for p in where["extra"]])
    out.append("// Probe: gcc %s python_versions/generator/probe.c" % flags)
    if mirrors:
        out.append("// Private CPython structs mirrored in probe.c (not in the installed headers):")
        for url, what in mirrors:
            out.append("// - %s: %s" % (url, what))
    uses_absent = any(values[f][0] is None for f in fields)
    out += [
        "",
        "use crate::{Layout, ABSENT};" if uses_absent else "use crate::Layout;",
        "",
        "pub(crate) const LAYOUT: Layout = Layout {",
        "    version: (%d, %d)," % version,
        '    source_version: "%s",' % full,
    ]
    if debug:
        out.append("    // offsetof(_Py_DebugOffsets, <name>) for each name")
        out.append("    debug_offsets: &[")
        out += ['        ("%s", %d),' % item for item in debug]
        out.append("    ],")
    else:
        out.append("    debug_offsets: &[],")
    for f in fields:
        value, how = values[f]
        if value is None:
            out.append("    %s: ABSENT," % f)
        else:
            # The source on its own line: trailing comments would get rustfmt's column alignment.
            out.append("    // %s" % how)
            out.append("    %s: %d," % (f, value))
    out += ["};", ""]
    return "\n".join(out)


def render_registry(versions):
    mods = ["v%d_%d" % v for v, _ in versions]
    out = [
        "// generated by %s from the `headers` lines of tests/interpreters.txt; do not edit" % SCRIPT_NAME,
        "// (included by lib.rs)",
        "",
    ]
    out += ["mod %s;" % m for m in mods]
    out += [
        "",
        "/// Every supported version, oldest first.",
        "pub static LAYOUTS: &[&Layout] = &[",
    ]
    out += ["    &%s::LAYOUT," % m for m in mods]
    out += ["];", ""]
    return "\n".join(out)


def generate():
    fields = layout_fields()
    all_versions = versions()
    check_headers(all_versions)
    files = {"registry.rs": render_registry(all_versions)}
    with tempfile.TemporaryDirectory(prefix="python_versions_probe_") as workdir:
        for version, where in all_versions:
            output = run_probe(version, where, workdir)
            full = header_version(where["include"])
            values, mirrors, debug = parse_probe(version, output, fields)
            if not full.startswith("%d.%d." % version):
                raise GenerateError("%d.%d: patchlevel.h says %s" % (version + (full,)))
            name = "v%d_%d.rs" % version
            files[name] = render(version, full, where, values, mirrors, debug, fields)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail with a diff if a committed file differs")
    args = ap.parse_args()
    try:
        files = generate()
    except GenerateError as e:
        print("generate.py: error: %s" % e, file=sys.stderr)
        return 2
    existing = {p.name for p in SRC.glob("v*_*.rs")}
    stale = sorted(existing - set(files))
    if args.check:
        bad = False
        for name, text in sorted(files.items()):
            path = SRC / name
            old = path.read_text() if path.exists() else ""
            if old != text:
                bad = True
                sys.stdout.writelines(
                    difflib.unified_diff(
                        old.splitlines(True),
                        text.splitlines(True),
                        "a/python_versions/src/%s" % name if old else "/dev/null",
                        "b/python_versions/src/%s" % name,
                    )
                )
        for name in stale:
            bad = True
            print("python_versions/src/%s: no `headers` line of tests/interpreters.txt produces it" % name)
        if bad:
            print("generate.py --check: generated files differ; run python_versions/generator/generate.py",
                  file=sys.stderr)
            return 1
        print("generate.py --check: %d files up to date" % len(files))
        return 0
    for name, text in sorted(files.items()):
        path = SRC / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print("wrote python_versions/src/%s" % name)
    for name in stale:
        print("warning: python_versions/src/%s is not generated by any version; remove it" % name,
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
