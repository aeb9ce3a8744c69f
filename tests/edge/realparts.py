"""Real processes for tests, bound to 127.0.0.1 only: an ffmpeg MJPEG server and a mosquitto broker."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs Debian's ffmpeg (apt install ffmpeg)")
needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="needs Debian's mosquitto (apt install mosquitto)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port):
    """True when a socket listens on `port` (from /proc/net/tcp: connecting would use up the single
    client an `ffmpeg -listen 1` server accepts)."""
    with open("/proc/net/tcp") as handle:
        for line in handle.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                return True
    return False


def wait_for_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if listening(port):
            return True
        time.sleep(0.05)
    raise AssertionError("nothing listens on 127.0.0.1:{} after {} s".format(port, timeout))


def make_video(path, seconds=2, rate=30, size="160x120"):
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size={}:rate={}".format(size, rate), "-t", str(seconds), "-pix_fmt", "yuv420p",
                    str(path)], check=True, timeout=60)
    return str(path)


class MjpegServer(object):
    """ffmpeg serving a live test pattern as HTTP MJPEG (one client per ffmpeg process, as ffmpeg does)."""

    def __init__(self, port, rate=15):
        self.port, self.rate, self.process = port, rate, None

    @property
    def url(self):
        return "http://127.0.0.1:{}/stream.mjpg".format(self.port)

    def start(self, wait=True):
        """wait=False when a client is already trying to connect: ffmpeg stops listening as soon as it
        accepts its one client, so the listening socket may come and go between two looks."""
        self.process = subprocess.Popen(
            [FFMPEG, "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate={}".format(self.rate),
             "-f", "mpjpeg", "-listen", "1", self.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            wait_for_port(self.port, timeout=30.0)   # ffmpeg starts slowly on a loaded 2-core machine
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


class Broker(object):
    """A mosquitto broker on 127.0.0.1:port, anonymous, persisting sessions in a temporary folder."""

    def __init__(self, port):
        self.port, self.process = port, None
        self.folder = tempfile.mkdtemp(prefix="mosquitto-")
        # Started as root, mosquitto drops to its own user: it must be able to write its database here.
        os.chmod(self.folder, 0o777)
        self.config = os.path.join(self.folder, "mosquitto.conf")
        with open(self.config, "w") as handle:
            # Persistence keeps the subscriber's session (and its queued QoS 1 messages) across a restart.
            handle.write("listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n"
                         .format(port, self.folder))

    def start(self):
        self.process = subprocess.Popen([MOSQUITTO, "-c", self.config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Subscriber(object):
    """A paho client collecting JSON payloads from a topic at QoS 1."""

    def __init__(self, port, topic):
        import json
        import threading

        import paho.mqtt.client as mqtt

        self.messages, self.lock = [], threading.Lock()
        if hasattr(mqtt, "CallbackAPIVersion"):
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber",
                                      clean_session=False)
        else:
            self.client = mqtt.Client(client_id="test-subscriber", clean_session=False)
        self.connected = threading.Event()

        def on_connect(client, userdata, flags, reason, *rest):
            client.subscribe(topic, qos=1)
            self.connected.set()

        def on_message(client, userdata, message):
            with self.lock:
                self.messages.append(json.loads(message.payload.decode("utf-8")))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async("127.0.0.1", port, 30)
        self.client.loop_start()

    def frames(self):
        with self.lock:
            return set(message["frame"] for message in self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
