"""pip's build backend for pyprobe: maturin's, asking it for the manylinux (or musllinux) tag
that the built binary actually fits.

Under pip, maturin tags wheels plain `linux_x86_64` (it passes `--compatibility off` unless
told otherwise), which no index accepts. `--compatibility pypi` makes it check the binary's
glibc symbols, as auditwheel does, and pick the oldest manylinux tag it fits (manylinux_2_34 for
a build on Debian 12). Where that fails, the build is done again with the plain tag, so that
`pip install .` still works. `MATURIN_PEP517_ARGS` or pip's `--config-settings` choose
otherwise.
"""
import os

import maturin
from maturin import (  # noqa: F401  (the hooks pip calls, passed on as they are)
    build_sdist,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
)

AUTO = "--compatibility pypi"


def _chosen(config_settings):
    settings = config_settings or {}
    return (
        "maturin.build-args" in settings
        or "build-args" in settings
        or "--compatibility" in os.environ.get("MATURIN_PEP517_ARGS", "")
    )


def _with_auto_tag(build, *args, config_settings=None, **kwargs):
    if _chosen(config_settings):
        return build(*args, config_settings=config_settings, **kwargs)
    previous = os.environ.get("MATURIN_PEP517_ARGS")
    os.environ["MATURIN_PEP517_ARGS"] = (previous + " " if previous else "") + AUTO
    try:
        return build(*args, config_settings=config_settings, **kwargs)
    except SystemExit:
        print("pyprobe: no manylinux tag fits this build; building a plain linux wheel")
    finally:
        if previous is None:
            del os.environ["MATURIN_PEP517_ARGS"]
        else:
            os.environ["MATURIN_PEP517_ARGS"] = previous
    return build(*args, config_settings=config_settings, **kwargs)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _with_auto_tag(
        maturin.build_wheel,
        wheel_directory,
        config_settings=config_settings,
        metadata_directory=metadata_directory,
    )


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    # The metadata carries the tag too: asked for the same way as the wheel.
    return _with_auto_tag(
        maturin.prepare_metadata_for_build_wheel,
        metadata_directory,
        config_settings=config_settings,
    )


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)
