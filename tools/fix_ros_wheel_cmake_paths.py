"""Point the ROS wheels' CMake export files at this interpreter's include directories.

The ros-* wheels were built against /opt/python/cp311-cp311, and their exported CMake targets
name that interpreter's Python and numpy include directories, which do not exist here; CMake's
generate step then fails with 'includes non-existent path'. Rewriting them is idempotent and must
be repeated after a ros-* wheel is reinstalled (see ../shared/ROS2_FROM_PYPI.md, step 2).
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

_BUILD_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
_BUILD_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include"
)


def main() -> int:
    prefix = Path(sys.prefix)
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for cmake_file in (prefix / "share").rglob("*.cmake"):
        text = cmake_file.read_text(errors="surrogateescape")
        if "/opt/python/" not in text:
            continue
        fixed = _BUILD_NUMPY_INCLUDE.sub(numpy_include, text)
        fixed = _BUILD_PYTHON_INCLUDE.sub(python_include, fixed)
        if fixed != text:
            cmake_file.write_text(fixed, errors="surrogateescape")
            changed += 1
    print(f"fix_ros_wheel_cmake_paths: {changed} CMake files now use {python_include} and {numpy_include}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
