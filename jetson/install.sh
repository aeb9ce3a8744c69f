#!/usr/bin/env bash
# Install the Jetson Edge Toolkit runtime on a Jetson without touching JetPack's TensorRT and OpenCV.
#
#   sudo jetson/install.sh [--dry-run] [--service] [--serve-service] [--uninstall-service]
#                          [--uninstall-serve-service] [--user NAME] [--prefix DIR] [--force]
#
#   --service         the edge-camera systemd service (config: /etc/edge-toolkit/edge-camera.yaml)
#   --serve-service   the edge-serve systemd service (KServe v2 HTTP + MQTT), on 127.0.0.1:8000
#                     unless /etc/edge-toolkit/edge-serve.env says otherwise; started at once only
#                     when a bundle is in place
#   --uninstall-service, --uninstall-serve-service   remove them
#
# Supported: JetPack 4.6.1+ (L4T R32.7.x: Ubuntu 18.04, Python 3.6, TensorRT 8.2.1, CUDA 10.2) and
# JetPack 6 on Orin (L4T R36, Python 3.10): 6.0 is R36.2/R36.3 with TensorRT 8.6.2 and CUDA 12.2,
# 6.1/6.2 are R36.4 with TensorRT 10.3 and CUDA 12.6. cuda-python is pinned to the CUDA found in
# /usr/local/cuda. L4T R32.6.1 (the first JetPack 4.6) ships TensorRT 8.0.1: refused unless --force.
# Idempotent: what is present is left alone.
# The device runtime (edge/ only) is copied to PREFIX/lib and run through small wrappers in
# /usr/local/bin (edge-camera, edge-serve, edge-predict, edge-bench, edge-export, edge-collect,
# edge-doctor), so no pip build backend is needed on Python 3.6 and nothing pulls a pip OpenCV
# or TensorRT over JetPack's. /var/lib/edge-toolkit (bundles, results) is made root:video, mode
# 2775; the login user (SUDO_USER) and the service user join video, and render where it exists.
#
# For tests: EDGE_INSTALL_ROOT points at a fake filesystem root for what the script reads
# (etc/nv_tegra_release, etc/group, usr/local/cuda/version.json or version.txt, the configs in
# etc/edge-toolkit, var/lib/edge-toolkit/bundle/manifest.json), EDGE_PYTHON at the interpreter used
# for the probes.
set -euo pipefail

ROOT="${EDGE_INSTALL_ROOT:-}"
PYTHON="${EDGE_PYTHON:-python3}"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="/opt/edge-toolkit"
CONFIG_DIR="/etc/edge-toolkit"
DATA_DIR="/var/lib/edge-toolkit"
UNIT_DIR="/etc/systemd/system"
SERVICE_USER="edge"
DRY_RUN=0
WITH_SERVICE=0
WITH_SERVE_SERVICE=0
UNINSTALL_SERVICE=0
UNINSTALL_SERVE_SERVICE=0
FORCE=0
# The device needs edge/ only: edge-export BUNDLE --engine is edge.export there.
COMMANDS=("edge-camera:edge.camera" "edge-serve:edge.serve.cli" "edge-predict:edge.predict" "edge-bench:edge.bench"
          "edge-export:edge.export" "edge-collect:edge.collect" "edge-doctor:edge.doctor.cli")

usage() {
    # The comment block at the top of this file, without the shebang.
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
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
            --serve-service) WITH_SERVE_SERVICE=1 ;;
            --uninstall-service) UNINSTALL_SERVICE=1 ;;
            --uninstall-serve-service) UNINSTALL_SERVE_SERVICE=1 ;;
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

# Sets L4T (e.g. 32.7.1), JETPACK (4.6 | 5 | 6), JETPACK_NAME (what the release is called and
# ships) and EXPECTED_PYTHON from /etc/nv_tegra_release.
detect_release() {
    local file="$ROOT/etc/nv_tegra_release" line major revision minor
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
    minor="${revision%%.*}"
    case "$major" in
        32)
            if [ "$minor" -lt 6 ]; then
                die "L4T R$L4T is JetPack 4.5 or older (TensorRT 7): upgrade to JetPack 4.6.1+ (L4T R32.7)"
            elif [ "$minor" -eq 6 ]; then
                # R32.6.1 is the first JetPack 4.6, with TensorRT 8.0.1; the toolkit is written for 8.2.
                if [ "$FORCE" -ne 1 ]; then
                    die "L4T R$L4T (JetPack 4.6) ships TensorRT 8.0.1, this toolkit needs 8.2.1: upgrade to L4T R32.7 (JetPack 4.6.1+), or pass --force"
                fi
                WARNINGS+=("L4T R$L4T ships TensorRT 8.0.1, not 8.2.1 (installed anyway with --force): upgrade to L4T R32.7 (JetPack 4.6.1+)")
                JETPACK_NAME="JetPack 4.6: TensorRT 8.0.1, CUDA 10.2"
            else
                JETPACK_NAME="JetPack 4.6.1+: TensorRT 8.2.1, CUDA 10.2"
            fi
            JETPACK="4.6"; EXPECTED_PYTHON="3.6" ;;
        36)
            # JetPack 6 is Orin-only. 6.0 (R36.2/R36.3) and 6.1/6.2 (R36.4) ship different TensorRT and CUDA.
            if [ "$minor" -lt 4 ]; then
                JETPACK_NAME="JetPack 6.0: TensorRT 8.6.2, CUDA 12.2"
            else
                JETPACK_NAME="JetPack 6.1/6.2: TensorRT 10.3, CUDA 12.6"
            fi
            JETPACK="6"; EXPECTED_PYTHON="3.10" ;;
        35)
            if [ "$FORCE" -ne 1 ]; then
                die "L4T R$L4T is JetPack 5, which this toolkit does not test; pass --force to install anyway"
            fi
            JETPACK_NAME="JetPack 5"
            JETPACK="5"; EXPECTED_PYTHON="3.8" ;;
        *)
            die "L4T R$L4T is not a supported release (JetPack 4.6.1+ = R32.7, JetPack 6.x = R36)" ;;
    esac
}

# Sets CUDA_VERSION (major.minor, e.g. 12.2) from the CUDA toolkit installed in /usr/local/cuda:
# version.json (CUDA 11.1 and later), else version.txt ("CUDA Version 10.2.300").
detect_cuda() {
    local json="$ROOT/usr/local/cuda/version.json" text="$ROOT/usr/local/cuda/version.txt" found=""
    if [ -f "$json" ]; then
        # { "cuda" : { "name" : "CUDA SDK", "version" : "12.2.140" }, "cuda_cccl" : { ... }, ... }
        found="$(tr -d '\r\n' < "$json" | sed -n \
            's/.*"cuda"[[:space:]]*:[[:space:]]*{[^}]*"version"[[:space:]]*:[[:space:]]*"\([0-9][0-9]*\.[0-9][0-9]*\)[0-9.]*".*/\1/p')"
    fi
    if [ -z "$found" ] && [ -f "$text" ]; then
        found="$(sed -n 's/^CUDA Version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' "$text" | head -n 1)"
    fi
    if [ -z "$found" ]; then
        die "no CUDA version in $json or $text: install JetPack's CUDA with: sudo apt-get install nvidia-jetpack"
    fi
    CUDA_VERSION="$found"
}

# "name:x:gid:members" for an existing group: getent on this machine, or with EDGE_INSTALL_ROOT
# that root's etc/group. Prints nothing for a missing group.
group_entry() {
    if [ -n "$ROOT" ]; then
        grep "^$1:" "$ROOT/etc/group" 2>/dev/null | head -n 1 || true
    else
        getent group "$1" || true
    fi
}

# Whether user $1 is in group $2 (primary or supplementary).
in_group() {
    local members
    if [ -z "$ROOT" ] && id -nG "$1" 2>/dev/null | tr ' ' '\n' | grep -qx "$2"; then
        return 0
    fi
    members="$(group_entry "$2" | cut -d: -f4)"
    case ",$members," in
        *",$1,"*) return 0 ;;
    esac
    return 1
}

# Sets HAS_RENDER and DEVICE_GROUPS: non-root CUDA on Orin (JetPack 6) needs video and render;
# Ubuntu 18.04 (JetPack 4.6) may have no render group, and naming a missing group fails useradd,
# usermod and a systemd unit's SupplementaryGroups alike.
detect_groups() {
    if [ -n "$(group_entry render)" ]; then
        HAS_RENDER=1; DEVICE_GROUPS="video,render"
    else
        HAS_RENDER=0; DEVICE_GROUPS="video"
    fi
}

# Fills PROBE_<name> with what the Python in use can import (version, "none", or for cv2_gstreamer
# yes/no). Whether OpenCV has GStreamer is decided by edge.sources.gstreamer from the checkout
# being installed, which reads both OpenCV 4.x's and 3.x's build information; "no" if it cannot.
probe_python() {
    local output key value
    output="$("$PYTHON" - "$SOURCE_DIR" <<'EOF' 2>/dev/null || true
import platform
import sys
# What JetPack's python3 imports, not what the current folder holds; edge/ comes from argv[1].
sys.path[:] = [entry for entry in sys.path if entry not in ("", ".")]
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
    import grpc
    import google.protobuf
    print("grpc=" + getattr(grpc, "__version__", "present"))
except Exception:
    print("grpc=none")
try:
    import cv2
    print("cv2_path=" + cv2.__file__)
    info = cv2.getBuildInformation()
except Exception:
    info = None
gstreamer = "no"
if info is not None:
    try:
        sys.path.insert(0, sys.argv[1])
        from edge.sources.gstreamer import gstreamer_in_build_information
        gstreamer = "yes" if gstreamer_in_build_information(info) else "no"
    except Exception:
        pass
print("cv2_gstreamer=" + gstreamer)
EOF
)"
    [ -n "$output" ] || die "cannot run $PYTHON: JetPack's python3 is needed"
    PROBE_python=none; PROBE_numpy=none; PROBE_cv2=none; PROBE_tensorrt=none; PROBE_pycuda=none
    PROBE_yaml=none; PROBE_cuda_python=none; PROBE_paho=none; PROBE_cv2_gstreamer=no; PROBE_cv2_path=""
    PROBE_grpc=none
    while IFS='=' read -r key value; do
        case "$key" in
            python|numpy|cv2|tensorrt|pycuda|yaml|cuda_python|paho|grpc|cv2_gstreamer|cv2_path)
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
    local apt_packages=() major minor
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
            # The bindings must match the CUDA this machine has: JetPack 6.0 is 12.2, 6.1/6.2 are 12.6.
            major="${CUDA_VERSION%%.*}"
            minor="${CUDA_VERSION#*.}"
            plan "cuda-python for CUDA $CUDA_VERSION" \
                 "python3 -m pip install cuda-python>=$major.$minor,<$major.$((minor + 1))"
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
    say "installing the runtime (edge/) into $PREFIX/lib"
    run rm -rf "$PREFIX/lib.new"
    run mkdir -p "$PREFIX/lib.new"
    run cp -r "$SOURCE_DIR/edge" "$PREFIX/lib.new/"
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
    if [ -f "$ROOT$CONFIG_DIR/edge-camera.yaml" ]; then
        say "keeping the existing $CONFIG_DIR/edge-camera.yaml"
    else
        run install -D -m 644 "$SOURCE_DIR/jetson/edge-camera.yaml" "$CONFIG_DIR/edge-camera.yaml"
    fi
}

# DATA_DIR and DATA_DIR/bundle: root:video, mode 2775. The login user (in video) copies bundles
# in and builds engines there with edge-export; the service user (in video) reads them, writes
# results, and may add an engine and timing cache itself (build-engine: true). setgid keeps
# everything created inside in group video, whoever creates it.
prepare_data_dir() {
    local login="${SUDO_USER:-}" group wanted=() missing=()
    say "preparing $DATA_DIR and $DATA_DIR/bundle (owner root, group video, mode 2775)"
    run install -d -o root -g video -m 2775 "$DATA_DIR" "$DATA_DIR/bundle"
    if [ -z "$login" ] && [ "$(id -u)" -ne 0 ]; then
        login="$(id -un)"  # --dry-run without sudo: the user running it
    fi
    if [ -z "$login" ] || [ "$login" = root ]; then
        return 0
    fi
    IFS=, read -r -a wanted <<< "$DEVICE_GROUPS"
    for group in "${wanted[@]}"; do
        in_group "$login" "$group" || missing+=("$group")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        group="$(IFS=,; echo "${missing[*]}")"
        run usermod -a -G "$group" "$login"
        WARNINGS+=("$login was added to $group (CUDA and $DATA_DIR need it): log out and in again before using the GPU or copying a bundle")
    fi
}

# A unit as installed (jetson/$1): the user and prefix from the options, and render among the
# SupplementaryGroups only where the group exists (systemd fails a unit that names a missing group).
render_unit() {
    local unit_groups="video"
    if [ "$HAS_RENDER" -eq 1 ]; then
        unit_groups="video render"
    fi
    sed -e "s|^User=edge$|User=$SERVICE_USER|" -e "s|^SupplementaryGroups=video$|SupplementaryGroups=$unit_groups|" \
        -e "s|/opt/edge-toolkit|$PREFIX|g" "$SOURCE_DIR/jetson/$1"
}

# The service user (both services run as it), in DEVICE_GROUPS.
ensure_service_user() {
    if [ "${SERVICE_USER_READY:-0}" -eq 1 ]; then
        return 0
    fi
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        # Its home is DATA_DIR, which prepare_data_dir made (root:video): not created nor chowned here.
        run useradd --system --no-create-home --home-dir "$DATA_DIR" --shell /usr/sbin/nologin \
            --groups "$DEVICE_GROUPS" "$SERVICE_USER"
    else
        run usermod -a -G "$DEVICE_GROUPS" "$SERVICE_USER"
    fi
    SERVICE_USER_READY=1
}

# Writes UNIT_DIR/$1 from jetson/$1 (with --dry-run: prints it, indented).
write_unit() {
    local unit="$1" line
    if [ "$DRY_RUN" -eq 1 ]; then
        echo "+ write $UNIT_DIR/$unit (User=$SERVICE_USER, PYTHONPATH=$PREFIX/lib):"
        while IFS= read -r line; do
            echo "    $line"
        done < <(render_unit "$unit")
    else
        render_unit "$unit" > "$UNIT_DIR/$unit"
        chmod 644 "$UNIT_DIR/$unit"
    fi
}

install_service() {
    say "installing the edge-camera service (user $SERVICE_USER, groups $DEVICE_GROUPS)"
    ensure_service_user
    write_unit edge-camera.service
    run systemctl daemon-reload
    run systemctl enable --now edge-camera.service
}

# edge-serve as a service: its options in CONFIG_DIR/edge-serve.env (the bundle, and 127.0.0.1:8000
# unless changed there), kept when present. Enabled at boot; started now only when a bundle is in
# place, since without one it stops at once (exit 2, not restarted).
install_serve_service() {
    say "installing the edge-serve service (user $SERVICE_USER, groups $DEVICE_GROUPS)"
    ensure_service_user
    if [ -f "$ROOT$CONFIG_DIR/edge-serve.env" ]; then
        say "keeping the existing $CONFIG_DIR/edge-serve.env"
    else
        run install -D -m 644 "$SOURCE_DIR/jetson/edge-serve.env" "$CONFIG_DIR/edge-serve.env"
    fi
    write_unit edge-serve.service
    run systemctl daemon-reload
    if [ -f "$ROOT$DATA_DIR/bundle/manifest.json" ]; then
        run systemctl enable --now edge-serve.service
    else
        run systemctl enable edge-serve.service
        WARNINGS+=("edge-serve.service is enabled but not started: no bundle in $DATA_DIR/bundle yet;" \
                   "  copy one there, then: sudo systemctl start edge-serve")
    fi
}

uninstall_service() {
    say "removing the $1 service"
    run systemctl disable --now "$1"
    run rm -f "$UNIT_DIR/$1"
    run systemctl daemon-reload
}

summary() {
    say ""
    say "Jetson Edge Toolkit install check (L4T R$L4T, $JETPACK_NAME)"
    printf '  %-14s %s\n' python "$PROBE_python" numpy "$PROBE_numpy" \
        opencv "$PROBE_cv2 (GStreamer: $PROBE_cv2_gstreamer)" tensorrt "$PROBE_tensorrt" \
        pycuda "$PROBE_pycuda" cuda-python "$PROBE_cuda_python" pyyaml "$PROBE_yaml" paho-mqtt "$PROBE_paho" \
        grpcio "$PROBE_grpc"
    if [ -n "${CUDA_VERSION:-}" ]; then
        printf '  %-14s %s\n' cuda "$CUDA_VERSION (/usr/local/cuda)"
    fi
    printf '  %-14s %s\n' groups "$DEVICE_GROUPS$( [ "$HAS_RENDER" -eq 1 ] || echo ' (no render group here)')"
    if [ ${#PLAN[@]} -eq 0 ]; then
        say "  dependencies: all present, nothing to install"
    else
        say "  dependencies: ${#PLAN[@]} step(s) $( [ "$DRY_RUN" -eq 1 ] && echo 'would run' || echo 'ran')"
    fi
    if [ "$PROBE_grpc" = none ]; then
        # Optional, so not installed here: without it edge-serve serves HTTP only and says so. grpcio 1.48.2 is
        # the last with Python 3.6 aarch64 wheels, which Ubuntu 18.04's pip 9 cannot install.
        if [ "$JETPACK" = "4.6" ]; then
            say "  optional: edge-serve's gRPC port (tritonclient.grpc) needs grpcio and protobuf:" \
                "python3 -m pip install --user -U pip && python3 -m pip install grpcio==1.48.2 'protobuf<3.20'"
        else
            say "  optional: edge-serve's gRPC port (tritonclient.grpc) needs grpcio and protobuf:" \
                "python3 -m pip install grpcio protobuf"
        fi
    fi
    local warning
    for warning in "${WARNINGS[@]+"${WARNINGS[@]}"}"; do
        say "  warning: $warning"
    done
    say "next: scp -r DESKTOP:PROJECT/bundle/* $DATA_DIR/bundle/   (from the desktop, as the login user)"
    say "      edge-doctor $DATA_DIR/bundle   (this machine and the bundle against the desktop's numbers)"
    say "      edge-export $DATA_DIR/bundle --engine fp16   (build the engine on this device)"
    say "      edge-camera $DATA_DIR/bundle --source csi://0 --http-port 8080"
    say "      edge-serve $DATA_DIR/bundle   (KServe v2 HTTP on 127.0.0.1:8000)"
}

main() {
    WARNINGS=()
    CUDA_VERSION=""
    parse_args "$@"
    detect_release
    if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo jetson/install.sh), or see what it would do with --dry-run"
    fi
    if [ "$UNINSTALL_SERVICE" -eq 1 ] || [ "$UNINSTALL_SERVE_SERVICE" -eq 1 ]; then
        if [ "$UNINSTALL_SERVICE" -eq 1 ]; then
            uninstall_service edge-camera.service
        fi
        if [ "$UNINSTALL_SERVE_SERVICE" -eq 1 ]; then
            uninstall_service edge-serve.service
        fi
        exit 0
    fi
    if [ "$JETPACK" != "4.6" ]; then
        detect_cuda
    fi
    detect_groups
    probe_python
    make_plan
    execute_plan
    install_runtime
    prepare_data_dir
    if [ "$WITH_SERVICE" -eq 1 ]; then
        install_service
    fi
    if [ "$WITH_SERVE_SERVICE" -eq 1 ]; then
        install_serve_service
    fi
    summary
    run_doctor
}

# The last word: edge-doctor on this machine (and on the bundle, when one is in place), its
# verdict printed. A failing check does not undo the install; the table says what to do.
run_doctor() {
    local target="" code=0
    if [ -f "$ROOT$DATA_DIR/bundle/manifest.json" ]; then
        target="$DATA_DIR/bundle"
    fi
    say ""
    if [ "$DRY_RUN" -eq 1 ]; then
        echo "+ PYTHONPATH=$PREFIX/lib python3 -m edge.doctor.cli${target:+ $target}"
        return 0
    fi
    PYTHONPATH="$PREFIX/lib" "$PYTHON" -m edge.doctor.cli ${target:+"$target"} || code=$?
    if [ "$code" -eq 0 ]; then
        say "edge-doctor: every check that could run passed"
    else
        say "edge-doctor: a check failed (exit $code): see the table above; run edge-doctor again after fixing it"
    fi
}

main "$@"
