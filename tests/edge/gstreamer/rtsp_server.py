"""A real RTSP server for the tests: gst-rtsp-server (Debian's gir1.2-gst-rtsp-server-1.0) from Python GI.

Run as its own process, so a test can kill (SIGKILL) or pause (SIGSTOP) it like a camera that drops:

    python rtsp_server.py --port 8554 --codec h265 --width 640 --height 360 --fps 15

serves a live test pattern at rtsp://127.0.0.1:PORT/cam, encoded in software (x264enc / x265enc),
and prints "ready" on stdout once it listens. Bound to 127.0.0.1 only.
"""

import argparse
import sys

ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph264pay name=pay0 pt=96",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph265pay name=pay0 pt=96",
}


def launch_line(codec, width, height, fps, pattern):
    return ("( videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},"
            "framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! {encoder} )").format(
                pattern=pattern, width=width, height=height, fps=fps,
                encoder=ENCODERS[codec].format(fps=fps))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--pattern", default="ball")
    parser.add_argument("--mount", default="/cam")
    args = parser.parse_args(argv)

    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.codec, args.width, args.height, args.fps, args.pattern))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen on 127.0.0.1:{}".format(args.port))
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
