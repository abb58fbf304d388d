"""The middleware set-up the package ships for camera frames between processes.

Fast DDS's stock transports lose most 1-2 MB messages between processes on one host (the default
shared-memory segment is 512 KB, so a frame falls back to fragmented UDP). The package's profile
(``config/fastdds_large_data.xml``) gives shared memory segments that hold whole frames and UDP
socket buffers of 4 MB. Every executable of the package applies it before the middleware starts,
unless the environment already names a profile or another middleware is chosen.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
PROFILE_FILE = "fastdds_large_data.xml"
FAST_DDS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def large_data_profile() -> Path | None:
    """The installed profile (share/memory_nodes/config), else the source tree's; None if neither."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            installed = Path(get_package_share_directory("memory_nodes")) / "config" / PROFILE_FILE
            if installed.is_file():
                return installed
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    source = Path(__file__).resolve().parents[2] / "config" / PROFILE_FILE
    return source if source.is_file() else None


def use_large_data_profile() -> str | None:
    """Point Fast DDS at the package's profile (call before ``rclpy.init``). A profile the
    environment names already is kept; returns the profile in effect, None for other middleware."""
    if os.environ.get("RMW_IMPLEMENTATION", FAST_DDS[0]) not in FAST_DDS:
        return None
    if os.environ.get(PROFILE_VARIABLE):
        return os.environ[PROFILE_VARIABLE]
    profile = large_data_profile()
    if profile is None:
        return None
    os.environ[PROFILE_VARIABLE] = str(profile)
    return str(profile)
