#!/usr/bin/env bash
# Install the Jetson Edge Toolkit runtime on a Jetson without touching JetPack's TensorRT and OpenCV.
#
#   sudo jetson/install.sh [--dry-run] [--service] [--uninstall-service] [--user NAME] [--prefix DIR] [--force]
#
# Supported: JetPack 4.6.x (L4T R32.6/R32.7: Ubuntu 18.04, Python 3.6, TensorRT 8.2, CUDA 10.2) and
# JetPack 6.x (L4T R36: Python 3.10, TensorRT 10.3, CUDA 12.6). Idempotent: what is present is left alone.
# The runtime is copied to PREFIX/lib and run through small wrappers in /usr/local/bin, so no pip build
# backend is needed on Python 3.6 and nothing pulls a pip OpenCV or TensorRT over JetPack's.
#
# For tests: EDGE_INSTALL_ROOT points at a fake filesystem root (etc/nv_tegra_release), EDGE_PYTHON at
# the interpreter used for the probes.
set -euo pipefail

ROOT="${EDGE_INSTALL_ROOT:-}"
PYTHON="${EDGE_PYTHON:-python3}"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="/opt/edge-toolkit"
CONFIG_DIR="/etc/edge-toolkit"
UNIT_PATH="/etc/systemd/system/edge-camera.service"
SERVICE_USER="edge"
DRY_RUN=0
WITH_SERVICE=0
UNINSTALL_SERVICE=0
FORCE=0
COMMANDS=("edge-camera:edge.camera" "edge-predict:edge.predict" "edge-bench:edge.bench"
          "edge-export:export.cli" "edge-collect:edge.collect")

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    echo "install.sh: error: $*" >&2
    exit 2
}

say() {
    echo "$*"
}

# Run a command, or only print it with --dry-run.
run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        echo "+ $*"
    else
        "$@"
    fi
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --service) WITH_SERVICE=1 ;;
            --uninstall-service) UNINSTALL_SERVICE=1 ;;
            --force) FORCE=1 ;;
            --user) [ $# -ge 2 ] || die "--user needs a name"; SERVICE_USER="$2"; shift ;;
            --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX="$2"; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
        shift
    done
    case "$SERVICE_USER" in
        ''|*[!a-z0-9_-]*) die "--user must be a plain user name (a-z, 0-9, _ and -), got '$SERVICE_USER'" ;;
    esac
    case "$PREFIX" in
        /*) ;;
        *) die "--prefix must be an absolute path, got '$PREFIX'" ;;
    esac
}

# Sets L4T (e.g. 32.7.1), JETPACK (4.6 | 6) and EXPECTED_PYTHON from /etc/nv_tegra_release.
detect_release() {
    local file="$ROOT/etc/nv_tegra_release" line major revision
    if [ ! -f "$file" ]; then
        die "this is not a Jetson (no /etc/nv_tegra_release). On a desktop, install with: make setup (see README.md)"
    fi
    line="$(head -n 1 "$file")"
    # "# R32 (release), REVISION: 7.1, GCID: ..., BOARD: t210ref, EABI: aarch64, DATE: ..."
    major="$(echo "$line" | sed -n 's/^# R\([0-9][0-9]*\) (release).*/\1/p')"
    revision="$(echo "$line" | sed -n 's/.*REVISION: \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
    if [ -z "$major" ] || [ -z "$revision" ]; then
        die "cannot read the L4T release from $file: '$line'"
    fi
    L4T="$major.$revision"
    case "$major" in
        32)
            if [ "${revision%%.*}" -lt 6 ]; then
                die "L4T R$L4T is JetPack 4.5 or older (TensorRT 7): upgrade to JetPack 4.6.x (L4T R32.6+)"
            fi
            JETPACK="4.6"; EXPECTED_PYTHON="3.6" ;;
        36)
            JETPACK="6"; EXPECTED_PYTHON="3.10" ;;
        35)
            if [ "$FORCE" -ne 1 ]; then
                die "L4T R$L4T is JetPack 5, which this toolkit does not test; pass --force to install anyway"
            fi
            JETPACK="5"; EXPECTED_PYTHON="3.8" ;;
        *)
            die "L4T R$L4T is not a supported release (JetPack 4.6.x = R32.6/R32.7, JetPack 6.x = R36)" ;;
    esac
}

# Fills PROBE_<name> with what the Python in use can import (version, "none", or for cv2_gstreamer yes/no).
probe_python() {
    local output key value
    output="$("$PYTHON" - <<'EOF' 2>/dev/null || true
import platform
print("python=" + platform.python_version())
def version(name):
    try:
        module = __import__(name)
        return str(getattr(module, "__version__", "present"))
    except Exception:
        return "none"
for name in ("numpy", "cv2", "tensorrt", "pycuda", "yaml"):
    print(name + "=" + version(name))
try:
    from cuda import cudart
    print("cuda_python=present")
except Exception:
    print("cuda_python=none")
try:
    import paho.mqtt
    print("paho=" + getattr(paho.mqtt, "__version__", "present"))
except Exception:
    print("paho=none")
try:
    import cv2
    info = cv2.getBuildInformation()
    gst = [l for l in info.splitlines() if "GStreamer" in l]
    print("cv2_gstreamer=" + ("yes" if gst and "YES" in gst[0] else "no"))
    print("cv2_path=" + cv2.__file__)
except Exception:
    print("cv2_gstreamer=no")
EOF
)"
    [ -n "$output" ] || die "cannot run $PYTHON: JetPack's python3 is needed"
    PROBE_python=none; PROBE_numpy=none; PROBE_cv2=none; PROBE_tensorrt=none; PROBE_pycuda=none
    PROBE_yaml=none; PROBE_cuda_python=none; PROBE_paho=none; PROBE_cv2_gstreamer=no; PROBE_cv2_path=""
    while IFS='=' read -r key value; do
        case "$key" in
            python|numpy|cv2|tensorrt|pycuda|yaml|cuda_python|paho|cv2_gstreamer|cv2_path)
                printf -v "PROBE_$key" '%s' "$value" ;;
        esac
    done <<< "$output"
}

# Each planned step is "description|command"; the command is run (or printed) later.
PLAN=()
plan() {
    PLAN+=("$1|$2")
}

make_plan() {
    local apt_packages=()
    if [ "${PROBE_python%.*}" != "$EXPECTED_PYTHON" ] && [ "$PROBE_python" != "$EXPECTED_PYTHON" ]; then
        die "JetPack $JETPACK comes with Python $EXPECTED_PYTHON, but $PYTHON is $PROBE_python; run with JetPack's python3"
    fi
    [ "$PROBE_numpy" != none ] || apt_packages+=(python3-numpy)
    [ "$PROBE_yaml" != none ] || apt_packages+=(python3-yaml)
    [ "$PROBE_tensorrt" != none ] || apt_packages+=(python3-libnvinfer)
    if [ "$PROBE_cv2" = none ]; then
        apt_packages+=(nvidia-opencv)
    elif [ "$PROBE_cv2_gstreamer" != yes ]; then
        WARNINGS+=("OpenCV at ${PROBE_cv2_path:-?} has no GStreamer (a pip opencv-python shadowing JetPack's?):" \
                   "  CSI cameras and hardware RTSP decoding will not work; remove it with: pip3 uninstall opencv-python opencv-python-headless")
    fi
    if [ "$JETPACK" = "4.6" ]; then
        if [ "$PROBE_pycuda" = none ]; then
            apt_packages+=(python3-pip python3-dev build-essential)
            # pycuda 2021.1 is the last release for Python 3.6; build it against JetPack's CUDA 10.2.
            plan "pycuda built against /usr/local/cuda" \
                 "env PATH=/usr/local/cuda/bin:$PATH CPATH=/usr/local/cuda/include LIBRARY_PATH=/usr/local/cuda/lib64 python3 -m pip install pycuda==2021.1"
        fi
        [ "$PROBE_paho" != none ] || plan "paho-mqtt 1.x (the last for Python 3.6)" "python3 -m pip install paho-mqtt<2"
    else
        if [ "$PROBE_pycuda" = none ] && [ "$PROBE_cuda_python" = none ]; then
            apt_packages+=(python3-pip)
            plan "cuda-python for CUDA 12.6" "python3 -m pip install cuda-python>=12.6,<12.7"
        fi
        [ "$PROBE_paho" != none ] || plan "paho-mqtt" "python3 -m pip install paho-mqtt"
    fi
    if [ ${#apt_packages[@]} -gt 0 ]; then
        # Ubuntu's packages first, so pip never builds what apt has.
        PLAN=("apt packages: ${apt_packages[*]}|apt-get install -y ${apt_packages[*]}" "${PLAN[@]}")
        PLAN=("apt package lists|apt-get update" "${PLAN[@]}")
    fi
}

execute_plan() {
    local step description command
    for step in "${PLAN[@]}"; do
        description="${step%%|*}"
        command="${step#*|}"
        say "installing $description"
        # The commands are built above from fixed strings only; word splitting is intended.
        # shellcheck disable=SC2086
        run $command
    done
}

install_runtime() {
    local entry name module wrapper
    say "installing the runtime into $PREFIX/lib"
    run rm -rf "$PREFIX/lib.new"
    run mkdir -p "$PREFIX/lib.new"
    run cp -r "$SOURCE_DIR/edge" "$SOURCE_DIR/export" "$PREFIX/lib.new/"
    # Swap whole folders so a half-copied runtime is never what runs.
    run rm -rf "$PREFIX/lib.old"
    if [ -d "$PREFIX/lib" ] || [ "$DRY_RUN" -eq 1 ]; then
        run mv "$PREFIX/lib" "$PREFIX/lib.old"
    fi
    run mv "$PREFIX/lib.new" "$PREFIX/lib"
    run rm -rf "$PREFIX/lib.old"
    for entry in "${COMMANDS[@]}"; do
        name="${entry%%:*}"
        module="${entry#*:}"
        wrapper="/usr/local/bin/$name"
        if [ "$DRY_RUN" -eq 1 ]; then
            echo "+ write $wrapper (PYTHONPATH=$PREFIX/lib python3 -m $module)"
        else
            # The wrapper expands PYTHONPATH when it runs, not now.
            # shellcheck disable=SC2016
            printf '#!/bin/sh\nPYTHONPATH=%s/lib${PYTHONPATH:+:$PYTHONPATH} exec python3 -m %s "$@"\n' \
                "$PREFIX" "$module" > "$wrapper"
            chmod 755 "$wrapper"
        fi
    done
    if [ -f "$CONFIG_DIR/edge-camera.yaml" ]; then
        say "keeping the existing $CONFIG_DIR/edge-camera.yaml"
    else
        run install -D -m 644 "$SOURCE_DIR/jetson/edge-camera.yaml" "$CONFIG_DIR/edge-camera.yaml"
    fi
}

install_service() {
    say "installing the edge-camera service (user $SERVICE_USER, group video)"
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        run useradd --system --create-home --home-dir /var/lib/edge-toolkit --shell /usr/sbin/nologin \
            --groups video "$SERVICE_USER"
    else
        run usermod -a -G video "$SERVICE_USER"
    fi
    run install -d -o "$SERVICE_USER" -g video /var/lib/edge-toolkit
    if [ "$DRY_RUN" -eq 1 ]; then
        echo "+ write $UNIT_PATH (User=$SERVICE_USER, PYTHONPATH=$PREFIX/lib)"
    else
        sed -e "s|^User=edge$|User=$SERVICE_USER|" -e "s|/opt/edge-toolkit|$PREFIX|g" \
            "$SOURCE_DIR/jetson/edge-camera.service" > "$UNIT_PATH"
        chmod 644 "$UNIT_PATH"
    fi
    run systemctl daemon-reload
    run systemctl enable --now edge-camera.service
}

uninstall_service() {
    say "removing the edge-camera service"
    run systemctl disable --now edge-camera.service
    run rm -f "$UNIT_PATH"
    run systemctl daemon-reload
}

summary() {
    say ""
    say "Jetson Edge Toolkit install check (L4T R$L4T, JetPack $JETPACK)"
    printf '  %-14s %s\n' python "$PROBE_python" numpy "$PROBE_numpy" \
        opencv "$PROBE_cv2 (GStreamer: $PROBE_cv2_gstreamer)" tensorrt "$PROBE_tensorrt" \
        pycuda "$PROBE_pycuda" cuda-python "$PROBE_cuda_python" pyyaml "$PROBE_yaml" paho-mqtt "$PROBE_paho"
    if [ ${#PLAN[@]} -eq 0 ]; then
        say "  dependencies: all present, nothing to install"
    else
        say "  dependencies: ${#PLAN[@]} step(s) $( [ "$DRY_RUN" -eq 1 ] && echo 'would run' || echo 'ran')"
    fi
    local warning
    for warning in "${WARNINGS[@]+"${WARNINGS[@]}"}"; do
        say "  warning: $warning"
    done
    say "next: edge-export BUNDLE --engine fp16   (build the engine on this device)"
    say "      edge-camera BUNDLE --source csi://0 --http-port 8080"
}

main() {
    WARNINGS=()
    parse_args "$@"
    detect_release
    if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo jetson/install.sh), or see what it would do with --dry-run"
    fi
    if [ "$UNINSTALL_SERVICE" -eq 1 ]; then
        uninstall_service
        exit 0
    fi
    probe_python
    make_plan
    execute_plan
    install_runtime
    if [ "$WITH_SERVICE" -eq 1 ]; then
        install_service
    fi
    summary
}

main "$@"
