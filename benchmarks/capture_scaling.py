"""Scaling in the capture pipeline before the CPU converts the frame: CPU per frame, and top-1 agreement.

    .venv-gst/bin/python -m benchmarks.capture_scaling [--bundle BUNDLE --images VAL_DIR] [--frames 150]

Runs in .venv-gst (Debian's OpenCV with GStreamer 1.22), with the software stand-ins of the element
table (edge.sources.elements): avdec_h264 for nvv4l2decoder, videoscale + videoconvert for nvvidconv,
videotestsrc for nvarguscamerasrc. Two paths per source, through edge.open_source as edge-camera
opens it (--capture-backend gstreamer):

    before   the whole 1280x720 frame converted to BGR (videoconvert), then resized by the bundle's
             preprocessing on the CPU (edge.bundle.preprocess.resize_and_crop);
    after    videoscale to the box the preprocessing resizes to (aspect kept) before videoconvert
             (source option scale_to), then the same preprocessing, on a frame already that small.

CPU per frame is this process's user + system CPU time (all its threads: GStreamer's included)
over --frames frames after a warm-up, divided by the frames; the RTSP server (gst-rtsp-server,
x264enc) is a separate process and is not counted. The sources, at 1280x720 and 30 fps:

    rtsp    a live H.264 stream from tests/edge/gstreamer/rtsp_server.py (decoded in software here:
            on a Jetson nvv4l2decoder takes that part off the CPU);
    csi     the CSI camera's stand-in, videotestsrc is-live=true (its drawing is counted in both).

Agreement (--bundle, --images): the validation images, each centred as a 720x720 square on a grey
1280x720 frame, written as an H.264 MP4 (ffmpeg, libx264), decoded through the element table's
decoder and converter (filesrc ! qtdemux ! h264parse ! avdec_h264 ! ...), every frame, both ways;
the top-1 of the bundle (ONNX Runtime fp32) on each frame is compared between the two paths and
against the images' labels (their folder names).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTSP_SERVER = os.path.join(ROOT, "tests", "edge", "gstreamer", "rtsp_server.py")
FRAME = (1280, 720)
BOXES = {"a 224x224 model (resize 256)": (256, 256), "a 64x64 model (the digits demo)": (64, 64)}


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_frame(uri, spec, box, frames, warmup=30):
    """(CPU ms per frame, frames per second, delivered frame shape) reading `uri` through GStreamer,
    scaled to `box` (None: not scaled), each frame resized by the preprocessing of `spec`."""
    from edge.bundle.preprocess import resize_and_crop
    from edge.sources.factory import open_source

    with open_source(uri, capture_backend="gstreamer", scale_to=box) as source:
        for _ in range(warmup):
            source.read()
        start_cpu, start = cpu_seconds(), time.time()
        for _ in range(frames):
            image = source.read().image
            resize_and_crop(image, spec)
        used, wall = cpu_seconds() - start_cpu, time.time() - start
    return 1000.0 * used / frames, frames / wall, image.shape


def start_rtsp_server(port, width, height, fps):
    server = subprocess.Popen([sys.executable, RTSP_SERVER, "--port", str(port), "--codec", "h264", "--width",
                               str(width), "--height", str(height), "--fps", str(fps)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise SystemExit("the RTSP server did not start")
    return server


def cpu_rows(frames, port):
    """[(source, model, path, frame delivered, CPU ms/frame, fps)] for both sources, both boxes, both paths."""
    from edge.bundle.preprocess import PreprocessSpec

    server = start_rtsp_server(port, FRAME[0], FRAME[1], 30)
    sources = {"RTSP H.264 1280x720 30 fps": "rtsp://127.0.0.1:{}/cam".format(port),
               "CSI stand-in 1280x720 30 fps": "csi://0"}
    rows = []
    try:
        for name, uri in sources.items():
            for model, box in BOXES.items():
                spec = PreprocessSpec(size=(box[1], box[0]), crop_pct=1.0)   # resizes to exactly `box`
                for path, scale in (("before", None), ("after", box)):
                    ms, fps, shape = cpu_per_frame(uri, spec, scale, frames)
                    rows.append((name, model, path, "{}x{}".format(shape[1], shape[0]), ms, fps))
    finally:
        server.kill()
        server.wait()
    return rows


def clip_pipeline(path, box):
    """An H.264 MP4 through the element table's decoder and converter, every frame (no drops)."""
    from edge.sources.elements import registry_elements
    from edge.sources.gstreamer import check_location, cover_size

    elements = registry_elements()
    decoder, nvmm = elements.decoder("h264")
    return "filesrc location={} ! qtdemux ! h264parse ! {} ! {} ! appsink sync=false max-buffers=2 drop=false".format(
        check_location(path, "file"), decoder, elements.to_bgr(nvmm, size=cover_size(FRAME, box)))


def read_clip(path, box, model, spec):
    """Every frame of the clip through the element table, scaled to cover `box` (None: not scaled):
    (the model's top-1 per frame, the model's input per frame (resized and cropped, BGR), frame shape)."""
    import cv2

    from edge.bundle.preprocess import resize_and_crop

    capture = cv2.VideoCapture(clip_pipeline(path, box), cv2.CAP_GSTREAMER)
    labels, inputs, shape = [], [], None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        shape = image.shape
        labels.append(model.results([image])[0][0]["prediction"])
        inputs.append(resize_and_crop(image, spec))
    capture.release()
    return labels, inputs, shape


def write_clip(images, path, fps=30):
    """`images` (BGR), each centred as a 720x720 square on a grey 1280x720 frame, as an H.264 MP4."""
    import cv2

    encoder = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
                                "{}x{}".format(*FRAME), "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "fast",
                                "-crf", "18", "-pix_fmt", "yuv420p", path], stdin=subprocess.PIPE)
    side, left = FRAME[1], (FRAME[0] - FRAME[1]) // 2
    for image in images:
        frame = np.full((FRAME[1], FRAME[0], 3), 128, np.uint8)
        frame[:, left:left + side] = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
        encoder.stdin.write(frame.tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise SystemExit("ffmpeg could not write {}".format(path))
    return path


def agreement(bundle_dir, images, labels=None, clip=None):
    """{"frames", "agree", "input_difference", "before_correct", "after_correct",
    "after_shape", "box", "inputs"}: both paths on a clip of `images` (inputs: the model's, per path)."""
    from edge.bundle.bundle import Bundle
    from edge.tasks.registry import model_for
    from edge.runners.select import make_runner
    from edge.sources.scaling import model_box

    bundle = Bundle.load(bundle_dir)
    box = model_box(bundle.spec)
    runner, _ = make_runner(bundle, "onnxruntime", "fp32")
    with tempfile.TemporaryDirectory() as folder, runner:
        model = model_for(bundle, runner, k=1)
        clip = write_clip(images, clip or os.path.join(folder, "validation.mp4"))
        first, before, _ = read_clip(clip, None, model, bundle.spec)
        second, after, shape = read_clip(clip, box, model, bundle.spec)
    assert len(first) == len(second) == len(images), (len(first), len(second), len(images))
    labels = labels or [None] * len(images)
    return {"frames": len(images), "agree": sum(a == b for a, b in zip(first, second)),
            "input_difference": mean_difference(before, after),
            "before_correct": sum(a == t for a, t in zip(first, labels)),
            "after_correct": sum(b == t for b, t in zip(second, labels)), "after_shape": shape,
            "box": box, "inputs": (before, after)}


def mean_difference(first, second):
    """Mean absolute difference (0-255) between two lists of model inputs."""
    return float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(first, second)]))


def labelled_images(folder):
    from edge.predict import expand_images
    from edge.bundle.preprocess import read_image

    paths = expand_images([folder])
    return [read_image(path) for path in paths], [os.path.basename(os.path.dirname(path)) for path in paths]


def print_cpu_table(rows):
    print("| source | model input | path | frame to BGR | CPU ms/frame | frames/s |")
    print("|---|---|---|---|---:|---:|")
    for name, model, path, shape, ms, fps in rows:
        print("| {} | {} | {} | {} | {:.2f} | {:.1f} |".format(name, model, path, shape, ms, fps))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames measured per row (default 150: 5 s)")
    parser.add_argument("--port", type=int, default=18554, help="port for the RTSP server (127.0.0.1)")
    parser.add_argument("--bundle", help="a classifier bundle, for the agreement check")
    parser.add_argument("--images", help="its validation images (an image folder: one subfolder per class)")
    args = parser.parse_args(argv)
    print_cpu_table(cpu_rows(args.frames, args.port))
    if args.bundle and args.images:
        images, labels = labelled_images(args.images)
        result = agreement(args.bundle, images, labels)
        count = float(result["frames"])
        print("\ntop-1 agreement, before vs after, on {} validation images: {}/{} ({:.2%}); accuracy before {:.2%}, "
              "after {:.2%}; frames after scaling {}x{} (box {}x{}); model inputs differ by {:.2f} of 255 on "
              "average".format(result["frames"], result["agree"], result["frames"], result["agree"] / count,
                               result["before_correct"] / count, result["after_correct"] / count,
                               result["after_shape"][1], result["after_shape"][0], result["box"][0], result["box"][1],
                               result["input_difference"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
