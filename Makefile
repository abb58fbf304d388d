# memory_nodes: the two commands of the README.
#   make demo   installs everything if needed, builds, and runs the main job
#   make test   installs everything if needed, builds, and runs the whole test suite via colcon
# Both are fast when nothing changed: pip runs only when requirements.txt changes, colcon rebuilds
# only what changed.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
WS := $(CURDIR)/.ws
# The environment of every target that runs the nodes: the same file a user sources (README).
ROS_ENV := source $(CURDIR)/setup_env.bash
COLCON := cd $(WS) && colcon --log-base $(WS)/log

.PHONY: install build demo quick-demo test bench soak eval clean system-deps
.DEFAULT_GOAL := demo

install: system-deps $(VENV)/.installed build

# open3d loads libusb at import; it is the one system library the wheels do not carry. The fleet
# tests start a PostgreSQL server of their own from Debian's postgresql package (initdb, pg_ctl).
system-deps:
	@missing=""; \
	ldconfig -p | grep 'libusb-1.0.so.0' >/dev/null || missing="$$missing libusb-1.0-0"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt tools/fix_ros_wheel_cmake_paths.py
	@echo "installing Python dependencies into $(VENV) (first time: a few minutes)"
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@touch $(VENV)/COLCON_IGNORE
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt > $(VENV)/pip.log 2>&1 \
		|| { grep -v '^WARNING: Location' $(VENV)/pip.log; exit 1; }
	@$(VENV)/bin/python tools/fix_ros_wheel_cmake_paths.py
	@touch $@

# A colcon workspace whose src/ holds this repository, exactly as on a robot.
build: $(VENV)/.installed
	@mkdir -p $(WS)/src && touch $(WS)/COLCON_IGNORE
	@[ -L $(WS)/src/memory_nodes ] || ln -s $(CURDIR) $(WS)/src/memory_nodes
	@source $(VENV)/bin/activate && export AMENT_PREFIX_PATH=$(VENV) CMAKE_PREFIX_PATH=$(VENV) && \
		$(COLCON) build --base-paths src --event-handlers console_cohesion- status- summary+ \
		--cmake-args -DBUILD_TESTING=ON -Wno-dev > $(WS)/build.log 2>&1 \
		|| { tail -n 60 $(WS)/build.log; exit 1; }
	@echo "colcon build: ok (log: .ws/build.log)"

PREFIX := $(WS)/install/memory_nodes

# The main job: the household scenario in pybullet through the real nodes, scored; pictures in
# demo_output/. SCENARIO=studio or SCENARIO=house for the other layouts.
SCENARIO ?= flat
demo: install
	@$(ROS_ENV) && cd $(WS) && $(PREFIX)/lib/memory_nodes/memory_sim_demo --scenario $(SCENARIO) \
		--output $(CURDIR)/demo_output

# A shorter run without the simulator: a built-in sequence, each service asked once.
quick-demo: install
	@$(ROS_ENV) && $(PREFIX)/lib/memory_nodes/memory_demo --ros-args --log-level warn \
		--params-file $(PREFIX)/share/memory_nodes/config/memory.yaml

test: install
	@$(ROS_ENV) && rm -rf $(WS)/build/memory_nodes/test_results && \
		rc=0; $(COLCON) test --base-paths src --return-code-on-test-failure \
		--event-handlers console_direct+ status- summary- || rc=$$?; \
		$(COLCON) test-result --test-result-base $(WS)/build/memory_nodes --verbose > /dev/null || true; \
		python $(CURDIR)/tools/junit_summary.py $(WS)/build/memory_nodes/test_results || exit 1; exit $$rc

# Speed, scale and recovery figures (not part of the tests): prints a table, writes BENCHMARKS.md.
# The peer that bench_peer compares against is installed here only, not by the package.
bench: install $(VENV)/.bench-installed
	@$(ROS_ENV) && cd $(WS) && python $(CURDIR)/benchmarks/run_all.py

$(VENV)/.bench-installed: benchmarks/requirements.txt $(VENV)/.installed
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r benchmarks/requirements.txt > $(VENV)/pip-bench.log 2>&1 \
		|| { grep -v '^WARNING: Location' $(VENV)/pip-bench.log; exit 1; }
	@touch $@

# Generated households (SEEDS per level: easy, medium, hard) and the shipped scenarios through the real
# nodes; writes EVALUATION.md, docs/evaluation/*.png and the README's summary table (not part of the
# tests; about 15 s a household). EVAL_ARGS=--reuse keeps the households already scored.
SEEDS ?= 20
eval: install
	@$(ROS_ENV) && cd $(WS) && python -m memory_nodes.apps.evaluate --seeds $(SEEDS) --output $(CURDIR)/evaluation_output \
		--report $(CURDIR)/EVALUATION.md --pictures $(CURDIR)/docs/evaluation --readme $(CURDIR)/README.md $(EVAL_ARGS)

# 10 minutes of 30 Hz RGB-D + detections and 50 queries/s against every service, one process per
# node (test/test_soak.py runs 60 s of it).
soak: install
	@$(ROS_ENV) && cd $(WS) && python $(CURDIR)/benchmarks/soak.py 600

clean:
	rm -rf $(WS)
