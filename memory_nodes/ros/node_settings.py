"""The nodes' own settings (lifecycle, journal, topics, deadlines), declared once like the core's
configurations: each field with its type, default, unit, meaning and range. ``parameters`` turns
them into ROS parameters and the README's parameter table. No rclpy here."""

from __future__ import annotations

from dataclasses import dataclass

from memory_nodes.core.errors import ConfigError
from memory_nodes.core.evidence import MEMORIES
from memory_nodes.core.keyframes import KeyframeConfig
from memory_nodes.core.settings import setting, validate
from memory_nodes.storage.event_store import DURABILITY

PERCEPTION_MODES = ("detections", "geometric")
STORES = ("sqlite", "postgresql")
MCP_TRANSPORTS = ("stdio", "streamable-http")
POSE_SOURCES = ("pose", "odometry", "tf")


@dataclass(frozen=True)
class Settings:
    """Base of a node's settings: built from its parameters, validated at once."""

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class MemoryNodeSettings(Settings):
    """What every memory node (spatial, temporal, episodic, semantic) shares."""

    autostart: bool = setting(True, "configure and activate at start-up; false: wait for a lifecycle manager")
    memory_directory: str = setting("", "directory of the journal and snapshot files; '' = $ROS_HOME/memory_nodes")
    snapshot_name: str = setting("", "default file name of the save and load services; '' = the memory's name")
    persistence: bool = setting(True, "keep the memory in a journal in memory_directory")
    journal_name: str = setting("", "journal file name (<name>.sqlite3); '' = the memory's name")
    restore_on_configure: bool = setting(True, "rebuild the memory from its journal on configure")
    durability: str = setting("batched", "journal commits: 'always' (every event), 'batched' (every "
                              "batch_interval_s, and before every acknowledged request) or 'off'", choices=DURABILITY)
    batch_interval_s: float = setting(0.2, "longest time between journal commits", "s", low=0)
    snapshot_every_events: int = setting(5000, "events after which the journal is compacted into a snapshot", low=1)
    allow_save: bool = setting(True, "serve <memory>/save")
    allow_load: bool = setting(True, "serve <memory>/load")
    allow_forget: bool = setting(True, "serve <memory>/forget")
    allow_reset: bool = setting(True, "serve <memory>/reset")
    diagnostics_period_s: float = setting(1.0, "period of the /diagnostics report", "s", above=0)
    store: str = setting("sqlite", "where the journal lives: 'sqlite' (on the robot) or 'postgresql' (on the robot, "
                         "and shipped to the fleet's server whenever it is reachable)", choices=STORES)
    server: str = setting("", "with store postgresql: libpq connection string of the fleet's server, e.g. "
                          "'host=db.local port=5432 dbname=memory user=robot'")
    robot_id: str = setting("", "with store postgresql: this robot's id in the fleet (unique per robot)")
    ship_period_s: float = setting(1.0, "with store postgresql: period of shipping the journal to the server", "s",
                                   above=0)
    server_timeout_s: float = setting(5.0, "with store postgresql: connect timeout of the server", "s", above=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.store == "postgresql":
            if not self.persistence:
                raise ConfigError("store postgresql ships the journal: it needs persistence true")
            if not self.server or not self.robot_id:
                raise ConfigError("store postgresql needs server (a connection string) and robot_id")


@dataclass(frozen=True)
class SpatialNodeSettings(Settings):
    map_frame: str = setting("map", "fixed frame of every pose (REP-105)")
    default_limit: int = setting(10, "results returned when a request's limit is 0", low=1)
    snapshot_period_s: float = setting(2.0, "period of the latched full scene graph", "s", above=0)
    text_search: bool = setting(True, "match free text to labels with sentence embeddings")
    max_backlog_observations: int = setting(
        30, "observation messages kept waiting while a service call runs; older ones are dropped (counted)", low=1)


@dataclass(frozen=True)
class TemporalNodeSettings(Settings):
    map_frame: str = setting("map", "fixed frame of every pose (REP-105)")
    default_limit: int = setting(50, "results returned when a request's limit is 0", low=1)
    text_search: bool = setting(True, "match questions to labels with sentence embeddings")
    min_label_match: float = setting(
        0.35, "least similarity of a question to a change's label for the change to be evidence", low=0, high=1)
    recency_scale_s: float = setting(3600.0, "time over which a change's recency in evidence scores falls to 1/e",
                                     "s", above=0)


@dataclass(frozen=True)
class EpisodicNodeSettings(Settings):
    default_limit: int = setting(5, "results returned when a request's limit is 0", low=1)
    text_search: bool = setting(True, "recall episodes by sentence similarity")


@dataclass(frozen=True)
class SemanticNodeSettings(Settings):
    default_limit: int = setting(10, "results returned when a request's limit is 0", low=1)
    consolidation_period_s: float = setting(10.0, "period of consolidation from the other memories", "s", above=0)
    text_search: bool = setting(True, "search facts by sentence similarity")


@dataclass(frozen=True)
class AskNodeSettings(Settings):
    timeout_s: float = setting(1.0, "deadline for the memories' answers", "s", above=0)
    default_limit: int = setting(10, "answers returned when a request's limit is 0", low=1)
    memories: tuple[str, ...] = setting(MEMORIES, "memories asked, each serving <memory>/evidence",
                                        choices=MEMORIES, min_items=1)
    diagnostics_period_s: float = setting(1.0, "period of the /diagnostics report", "s", above=0)


@dataclass(frozen=True)
class McpNodeSettings(Settings):
    services_namespace: str = setting("/memory", "namespace of the memory services the MCP tools call")
    transport: str = setting("stdio", "MCP transport: 'stdio' (the agent starts this process and talks on its "
                             "stdin/stdout) or 'streamable-http' (a server on host:port)", choices=MCP_TRANSPORTS)
    host: str = setting("127.0.0.1", "address the streamable HTTP server listens on")
    port: int = setting(8765, "port of the streamable HTTP server", low=1, high=65535)
    http_path: str = setting("/mcp", "URL path of the streamable HTTP endpoint")
    timeout_s: float = setting(5.0, "deadline of one forwarded service call", "s", above=0)
    episodes_in_resource: int = setting(10, "episodes listed by the memory://episodes/latest resource", low=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.services_namespace.startswith("/"):
            raise ConfigError(f"services_namespace must be absolute (start with '/'), got {self.services_namespace!r}")
        if not self.http_path.startswith("/"):
            raise ConfigError(f"http_path must start with '/', got {self.http_path!r}")


@dataclass(frozen=True)
class ViewNodeSettings(Settings):
    recording_path: str = setting("", "write the recording to this .rrd file ('' = no file)")
    viewer_url: str = setting("", "stream to a running rerun viewer at this URL, e.g. "
                              "rerun+http://127.0.0.1:9876/proxy ('' = none)")
    serve_web_viewer: bool = setting(False, "serve a web viewer of the live recording on web_viewer_port")
    web_viewer_port: int = setting(9090, "port of the web viewer", low=1, high=65535)
    grpc_port: int = setting(9876, "port of the gRPC server the web viewer reads from", low=1, high=65535)
    log_camera_images: bool = setting(True, "log the view's depth and colour images with each camera pose")
    diagnostics_period_s: float = setting(1.0, "period of the /diagnostics report", "s", above=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.recording_path and not self.recording_path.endswith(".rrd"):
            raise ConfigError(f"recording_path must name an .rrd file, got {self.recording_path!r}")


@dataclass(frozen=True)
class FleetNodeSettings(Settings):
    server: str = setting("", "libpq connection string of the fleet's server, e.g. 'host=db.local dbname=memory'")
    robots: tuple[str, ...] = setting(("",), "robot ids whose events build the view; empty: every robot on the server")
    poll_period_s: float = setting(1.0, "period of reading new events from the server", "s", above=0)
    server_timeout_s: float = setting(5.0, "connect timeout of the server", "s", above=0)
    frame_timeout_s: float = setting(5.0, "how long a robot's frame may take to be integrated before it is "
                                     "counted as lost", "s", above=0)
    default_limit: int = setting(10, "results of last_seen_by when a request's limit is 0", low=1)


@dataclass(frozen=True)
class CameraMount(Settings):
    """The optical frame in ``base_link`` (the ``odometry`` pose source)."""

    translation: tuple[float, ...] = setting((0.0, 0.0, 1.0), "optical frame position in base_link (x y z)", "m",
                                             min_items=3)
    rotation: tuple[float, ...] = setting((-0.5, 0.5, -0.5, 0.5), "optical frame orientation in base_link, "
                                          "quaternion x y z w (default: looking along +x)", min_items=4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.translation) != 3 or len(self.rotation) != 4:
            raise ConfigError(f"base_to_camera needs 3 translation and 4 rotation values, got "
                              f"{len(self.translation)} and {len(self.rotation)}")


@dataclass(frozen=True)
class PerceptionNodeSettings(Settings):
    mode: str = setting("detections", "detections: lift 2D detections; geometric: depth only", choices=PERCEPTION_MODES)
    pose_source: str = setting("pose", "camera pose from 'pose' (PoseStamped), 'odometry' (base Odometry + "
                               "base_to_camera) or 'tf'", choices=POSE_SOURCES)
    map_frame: str = setting("map", "fixed frame of the observations (REP-105)")
    camera_frame: str = setting("camera_color_optical_frame", "optical frame looked up in TF")
    base_to_camera: CameraMount = setting(description="camera mount", default_factory=CameraMount)
    sync_tolerance_s: float = setting(0.05, "largest stamp difference of matched messages", "s", above=0)
    max_wait_s: float = setting(1.0, "how long a detection waits for its images and pose", "s", above=0)
    rgb_wait_s: float = setting(0.1, "how long a complete depth frame waits for its colour image before it is "
                                "processed without (wall time)", "s", low=0)
    max_backlog_frames: int = setting(2, "complete frames kept waiting for processing; older ones are dropped "
                                      "(counted) when lifting lags", low=1)
    depth_scale: float = setting(0.001, "metres per unit of 16UC1 depth (REP-118: 0.001)", "m", above=0)
    view_downsample: int = setting(4, "depth shrink factor of the view sent to the memory", low=1)
    max_range: float = setting(5.0, "range beyond which objects are not expected to be detected", "m", above=0)
    geometric_period_s: float = setting(1.0, "least time between geometric frames", "s", low=0)
    keyframes: KeyframeConfig = setting(description="which detection frames are lifted (the others repeat the "
                                        "last lifted one)", default_factory=KeyframeConfig)
    diagnostics_period_s: float = setting(1.0, "period of the /diagnostics report", "s", above=0)
