# Set-up and the two newcomer commands: `make demo` (the whole pipeline on the digits demo) and
# `make test`. Everything installs into .venv inside the checkout.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch goes in first and pinned: a package that lets pip choose would pull a newer torch with
# several GB of CUDA libraries. On a CUDA desktop: make TORCH=torch==2.13.0+cu126 ... (your build).
TORCH ?= torch==2.13.0
# The Jetson runtime must stay Python 3.6 compatible (JetPack 4.6): everything that runs there is edge/.

.PHONY: setup system-deps gstreamer-deps browser-deps demo demo-regression test test-device test-ort110 test-gstreamer test-triton pytriton-wheel py36-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/python -c "import torch; print('torch', torch.__version__)" > $(VENV)/torch-version.txt
	sed 's/^torch /torch==/' $(VENV)/torch-version.txt > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet --constraint $(VENV)/constraints.txt -e '.[edge,train,export,dev]'
	@# pip must not have replaced the torch installed above.
	$(BIN)/python -c "import torch, sys; want = open('$(VENV)/torch-version.txt').read().split()[1]; \
		sys.exit(0 if torch.__version__ == want else 'torch changed to ' + torch.__version__)"
	touch $@

demo: setup
	$(BIN)/python -m train.demo

# The second demo: regression (find a drawn nose), train -> export -> predict with the MAE in pixels.
demo-regression: setup
	$(BIN)/python -m train.demo_regression

# Real parts for the tests (camera streams, MQTT broker, shell and unit checks), from Debian's
# packages. Without root the tests that need them are skipped, each with its reason.
SYSTEM_TOOLS := ffmpeg mosquitto shellcheck
system-deps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do \
		command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	else echo "note:$$missing not installed (needs root and apt); the tests that use them will be skipped"; fi

# A real browser for the tests of edge-camera's page (tests marked `browser`, driven through selenium):
# Debian's chromium and its chromedriver. Under CI (CI set) a browser test that cannot run fails instead of
# skipping (EDGE_REQUIRE_BROWSER).
BROWSER_PACKAGES := chromium chromium-driver

browser-deps:
	@missing=""; for package in $(BROWSER_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	else echo "note:$$missing not installed (needs root and apt); the browser tests will be skipped"; fi

# Real GStreamer for the camera pipelines (tests marked `gstreamer`): Debian's OpenCV is built with
# GStreamer 1.22 (pip's OpenCV is not), plus software decoders and a real RTSP server (gst-rtsp-server
# through Python GI). Debian's python3 sees them through a venv with the system site packages; that
# venv runs only the `gstreamer` tests, with the NVIDIA elements swapped for software ones.
GSTREAMER_PACKAGES := python3-opencv python3-gi python3-venv gstreamer1.0-tools gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	gir1.2-gst-rtsp-server-1.0
GST_VENV := .venv-gst
GST_PYTHON ?= /usr/bin/python3
gstreamer-deps:
	@missing=""; for package in $(GSTREAMER_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	else echo "note:$$missing not installed (needs root and apt); the gstreamer tests will fail"; exit 1; fi

# numpy stays Debian's: its OpenCV is built against numpy 1.x.
$(GST_VENV)/.installed: pyproject.toml Makefile
	$(MAKE) gstreamer-deps
	$(GST_PYTHON) -m venv --system-site-packages $(GST_VENV)
	$(GST_PYTHON) -c "import numpy; print('numpy==' + numpy.__version__)" > $(GST_VENV)/constraints.txt
	$(GST_VENV)/bin/pip install --quiet --constraint $(GST_VENV)/constraints.txt -e . pytest onnxruntime paho-mqtt
	$(GST_VENV)/bin/python -c "import cv2, sys; from edge.sources.gstreamer import opencv_has_gstreamer; \
		sys.exit(0 if opencv_has_gstreamer() else 'this OpenCV has no GStreamer: ' + cv2.__file__)"
	touch $@

# EDGE_REQUIRE_GSTREAMER: a gstreamer test that cannot run fails instead of skipping. They live in
# tests/edge/gstreamer (that venv has no torch, onnx or tritonclient for the rest of the suite).
test-gstreamer: $(GST_VENV)/.installed system-deps
	EDGE_REQUIRE_GSTREAMER=1 $(GST_VENV)/bin/python -m pytest -m gstreamer tests/edge/gstreamer

py36-check: setup
	$(BIN)/vermin -q -t=3.6- --no-tips --violations edge

# On a Jetson the suite runs in JetPack's own python3, with its TensorRT, OpenCV and pycuda (a
# venv that sees the system packages), so the `tensorrt` and `jetson` tests run for real; the
# desktop-only tests (training, export: torch, onnx, onnxruntime) skip with their reason.
ON_JETSON := $(wildcard /etc/nv_tegra_release)
DEVICE_VENV := .venv-device
DEVICE_PYTHON ?= /usr/bin/python3
# The runtime's own floor plus the test runner; pytest 7.0 is the last for Python 3.6 (JetPack 4.6).
# ONNX Runtime 1.10 is the last for Python 3.6 (JetPack 4.6's era): installed where PyPI has it (x86-64);
# a Jetson has no ONNX Runtime, and the device venv of a newer Python none either.
DEVICE_TEST_PACKAGES := "pytest<7.1; python_version<'3.7'" "pytest; python_version>='3.7'" PyYAML numpy \
	"onnxruntime==1.10.0; python_version<'3.7' and platform_machine=='x86_64'"

$(DEVICE_VENV)/.installed: Makefile
	$(DEVICE_PYTHON) -m venv --system-site-packages $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install --quiet --upgrade "pip<22; python_version<'3.7'"   # 18.1 (Ubuntu 18.04) takes no manylinux2014 wheels
	$(DEVICE_VENV)/bin/python -m pip install --quiet $(DEVICE_TEST_PACKAGES)
	touch $@

ifeq ($(ON_JETSON),)
test: setup system-deps browser-deps py36-check pytriton-wheel $(GST_VENV)/.installed
	EDGE_REQUIRE_BROWSER=$${CI:+1} EDGE_PYTRITON_WHEEL="$(PYTRITON_WHEEL)" $(BIN)/python -m pytest -m "not gstreamer"
	$(MAKE) test-gstreamer
	$(MAKE) test-ort110
else
test: $(DEVICE_VENV)/.installed system-deps
	$(DEVICE_VENV)/bin/python -m pytest
endif

# Bundles the desktop exports with today's export code (tests/desktop_bundle.py, in the desktop venv),
# for the device-side run to load (tests/edge/test_desktop_bundles.py, through EDGE_DESKTOP_BUNDLES).
DESKTOP_BUNDLES := .cache/desktop-bundles
$(DESKTOP_BUNDLES)/.exported: $(VENV)/.installed tests/desktop_bundle.py $(wildcard edge/*.py edge/*/*.py edge/*/*/*.py export/*.py train/*.py)
	$(BIN)/python -m tests.desktop_bundle $(DESKTOP_BUNDLES)
	touch $@

# The same device-side run anywhere, under another interpreter: `make test-device
# DEVICE_PYTHON=python3.6` is JetPack 4.6's Python with no torch (what a Nano runs the suite with),
# and ONNX Runtime 1.10 on x86-64, loading the bundles the desktop venv exports first.
# DEVICE_TESTS: which tests (default all).
test-device: $(DEVICE_VENV)/.installed system-deps $(if $(ON_JETSON),,$(DESKTOP_BUNDLES)/.exported)
	$(DEVICE_VENV)/bin/python -m pip install --quiet "opencv-python-headless<4.7" "paho-mqtt<2" \
		"grpcio==1.48.2; python_version<'3.7'" "protobuf>=3.19,<3.20; python_version<'3.7'" \
		"grpcio; python_version>='3.7'" "protobuf; python_version>='3.7'"
	$(if $(wildcard $(DESKTOP_BUNDLES)/.exported),EDGE_DESKTOP_BUNDLES=$(abspath $(DESKTOP_BUNDLES))) \
		$(DEVICE_VENV)/bin/python -m pytest $(DEVICE_TESTS)

# What `make test` runs of that: the whole suite under Python 3.6 (JetPack 4.6's), with no torch, as a
# Nano runs it (the desktop-only tests skip), and ONNX Runtime 1.10 loading the desktop's bundles (an
# older ONNX Runtime refuses what a newer one loads). PY36: a Python 3.6 (on these machines pyenv's);
# where there is none, this says so and runs nothing.
PY36 ?= $(firstword $(wildcard /usr/bin/python3.6 $(PYENV_ROOT)/versions/3.6*/bin/python3.6 $(HOME)/.pyenv/versions/3.6*/bin/python3.6))
test-ort110:
	@if [ -z "$(PY36)" ]; then echo "note: no Python 3.6 here (PY36=...): the ONNX Runtime 1.10 tests did not run"; \
	else EDGE_EXPECT_ONNXRUNTIME=1.10.0 $(MAKE) test-device DEVICE_PYTHON=$(PY36) DEVICE_VENV=.cache/venv-py36 \
		DEVICE_TESTS=tests; fi

# A real tritonserver (Triton 2.51: its core and python backend) from the nvidia-pytriton wheel loads
# the repositories edge-export --triton-repo writes (tests/edge/test_triton_server.py). `make test`
# downloads the wheel (55 MB, once, into .cache) where it installs: x86-64 Linux with glibc 2.35+.
# Elsewhere (a Jetson) or offline, those tests skip, saying so.
PYTRITON_WHEELS := .cache/pytriton
PYTRITON_WHEEL = $$(ls $(PYTRITON_WHEELS)/nvidia_pytriton-0.7.0-*.whl 2>/dev/null | head -n 1)
pytriton-wheel: setup
	@if [ "$$(uname -m)" != x86_64 ]; then echo "note: no nvidia-pytriton wheel for $$(uname -m); the real-Triton tests will be skipped"; \
	elif [ -z "$(PYTRITON_WHEEL)" ]; then $(BIN)/pip download --quiet --no-deps --only-binary :all: \
		--dest $(PYTRITON_WHEELS) "nvidia-pytriton==0.7.0" || echo "note: nvidia-pytriton not downloaded; the real-Triton tests will be skipped"; fi

test-triton: pytriton-wheel
	EDGE_PYTRITON_WHEEL="$(PYTRITON_WHEEL)" $(BIN)/python -m pytest tests/edge/test_triton_server.py

clean:
	rm -rf $(VENV) $(DEVICE_VENV) $(GST_VENV) demo demo-regression .pytest_cache .cache

# Mutation testing of the modules that decide what a user trusts (the outbox, the runtime choice, the
# bundle, the golden set, the doctor's bundle rows, engine matching): mutmut 3 mutates one module at a
# time and runs only that module's own test files against each mutant; tests/mutation.py holds the
# map and prints a kill rate per module. Not part of `make test`: about 13 minutes on 2 busy cores.
# MUTATION_MODULES: some of outbox select bundle golden bundle_checks matching (default all).
MUTMUT_VERSION := 3.8.1
MUTATION_MODULES ?=
.PHONY: mutation
mutation: setup
	@$(BIN)/python -c "import importlib.metadata as m, sys; sys.exit(m.version('mutmut') != '$(MUTMUT_VERSION)')" \
		2>/dev/null || $(BIN)/pip install --quiet --constraint $(VENV)/constraints.txt "mutmut==$(MUTMUT_VERSION)"
	nice -n 19 $(BIN)/python -m tests.mutation $(MUTATION_MODULES)
