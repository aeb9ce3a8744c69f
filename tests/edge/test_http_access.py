"""Access control on every port (issue 23, item 4): edge-camera's token (health stays open), a browser's login
cookie, TLS on both daemons, and the flags' one-line errors. Real sockets on 127.0.0.1, a self-signed
certificate made with Debian's openssl, real clients: urllib with the CA, tritonclient.http with ssl=True,
Prometheus' own text parser. No browser is installed here: the login is driven with urllib's cookie jar."""

import hashlib
import hmac
import http.cookiejar
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from edge.sinks.http import HttpSink
from edge.sources.base import Frame
from edge.daemon.telemetry import Telemetry

TOKEN = "camera-s3cret"
COOKIE = "edge_session"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs openssl to make a test certificate "
                                                           "(apt install openssl)")


def make_cert(folder, name="cert"):
    """A self-signed certificate for 127.0.0.1 and localhost, and its key: (cert path, key path)."""
    cert, key = str(folder / (name + ".pem")), str(folder / (name + "-key.pem"))
    subprocess.check_call([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                           "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if OPENSSL is None:
        pytest.skip("needs openssl to make a test certificate (apt install openssl)")
    return make_cert(tmp_path_factory.mktemp("tls"))


def access(token=None, cert=None, key=None):
    from edge.net.http_access import Access, tls_context
    return Access(token, tls_context(cert, key))


def client_context(cert):
    return ssl.create_default_context(cafile=cert)


def camera(rules):
    """A running HTTP sink with `rules` (an Access), fed 50 frames a second."""
    telemetry = Telemetry()
    telemetry.set_state("ok")
    sink = HttpSink(telemetry, port=0, preview_fps=20.0, request_timeout=2.0, access=rules)
    sink.start()
    stop = threading.Event()

    def frames():
        index = 0
        while not stop.is_set():
            sink.publish({"frame": index, "prediction": "cat", "confidence": 0.9, "top": []},
                         Frame(np.full((48, 64, 3), index % 255, np.uint8), index))
            index += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=frames)
    feeder.start()

    def close():
        stop.set()
        feeder.join()
        sink.close()
    return sink, close


def fetch(opener_or_url, url=None, data=None, headers=None, context=None):
    """(status, headers, body) of one request (None, None, b"" when nothing listens); `opener_or_url`: a urllib
    opener, or the URL itself."""
    opener = opener_or_url if url is not None else None
    request = urllib.request.Request(url or opener_or_url, data=data, headers=headers or {})
    try:
        if opener is not None:
            response = opener.open(request, timeout=10)
        else:
            response = urllib.request.urlopen(request, timeout=10, context=context)
        with response:
            return response.status, response.headers, response.read(2000)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except urllib.error.URLError:   # not listening yet
        return None, None, b""


# ----- a token on edge-camera ---------------------------------------------------------------------------
def test_camera_with_a_token_leaves_only_health_open():
    sink, close = camera(access(TOKEN))
    try:
        assert fetch(sink.url + "/healthz")[0] == 200
        for path in ("/metrics", "/latest", "/stream.mjpg"):
            status, headers, body = fetch(sink.url + path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            assert "Bearer" in json.loads(body.decode())["error"], path
        status, headers, body = fetch(sink.url + "/")
        assert status == 401 and b'action="/login"' in body        # a browser gets the login form
        bearer = {"Authorization": "Bearer " + TOKEN}
        assert fetch(sink.url + "/latest", headers={"Authorization": "Bearer camera-s3creT"})[0] == 401
        assert fetch(sink.url + "/latest", headers=bearer)[0] == 200
        assert fetch(sink.url + "/metrics", headers=bearer)[0] == 200
        status, headers, _ = fetch(sink.url + "/stream.mjpg", headers=bearer)
        assert status == 200 and headers["Content-Type"].startswith("multipart/x-mixed-replace")
    finally:
        close()


# ----- TLS on edge-camera, and the browser's way in ------------------------------------------------------
def test_camera_over_tls_with_a_login_cookie(certificate):
    cert, key = certificate
    sink, close = camera(access(TOKEN, cert, key))
    try:
        assert sink.url.startswith("https://127.0.0.1:")
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPSHandler(context=client_context(cert)),
                                              urllib.request.HTTPCookieProcessor(jar))
        assert fetch(browser, sink.url + "/")[0] == 401
        form = urllib.parse.urlencode({"token": "wrong"}).encode()
        status, _, body = fetch(browser, sink.url + "/login", data=form)
        assert status == 401 and b"Wrong token" in body and len(jar) == 0
        # The form posts the token once: 303 to the page, with the session cookie.
        form = urllib.parse.urlencode({"token": TOKEN}).encode()
        status, headers, body = fetch(browser, sink.url + "/login", data=form)
        assert status == 200 and b'<title>edge-camera</title>' in body   # redirected to the page, which now opens
        (cookie,) = list(jar)
        assert cookie.name == COOKIE and cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.value == hmac.new(TOKEN.encode(), b"edge-toolkit browser session v1", hashlib.sha256).hexdigest()
        assert TOKEN not in cookie.value
        status, headers, body = fetch(browser, sink.url + "/stream.mjpg")
        assert status == 200 and b"Content-Type: image/jpeg" in body
        assert fetch(browser, sink.url + "/latest")[0] == 200
        # The raw Set-Cookie header: SameSite=Strict, which urllib does not model.
        raw = urllib.request.build_opener(urllib.request.HTTPSHandler(context=client_context(cert)),
                                          NoRedirect())
        status, headers, _ = fetch(raw, sink.url + "/login?token=" + TOKEN)
        assert status == 303 and headers["Location"] == "/"
        set_cookie = headers["Set-Cookie"]
        for attribute in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/"):
            assert attribute in set_cookie, set_cookie
        # Logging out drops the cookie.
        fetch(browser, sink.url + "/logout", data=b"")
        assert len(jar) == 0 and fetch(browser, sink.url + "/latest")[0] == 401
    finally:
        close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def test_camera_metrics_over_tls_parse_as_prometheus_and_plain_http_is_refused(certificate):
    from tests.edge.test_health import parse_metrics   # prometheus_client's parser where installed (not on a Jetson)

    cert, key = certificate
    sink, close = camera(access(None, cert, key))
    try:
        request = urllib.request.Request(sink.url + "/metrics")
        with urllib.request.urlopen(request, timeout=10, context=client_context(cert)) as response:
            _, types = parse_metrics(response.read().decode())
        assert "edge_up" in types
        with pytest.raises(urllib.error.URLError):   # a client that does not trust the certificate
            urllib.request.urlopen(sink.url + "/healthz", timeout=10)
        # Plain HTTP to the TLS port: the handshake fails and the connection is closed, at once.
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            started = time.time()
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
            assert time.time() - started < 1.5
    finally:
        close()


def test_stalled_tls_handshakes_hold_no_worker(certificate):
    """100 clients open a TLS connection and never finish the handshake (nothing, or half a ClientHello)."""
    cert, key = certificate
    sink, close = camera(access(None, cert, key))
    stalled = []
    try:
        for index in range(100):
            sock = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
            if index % 2:
                sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # the start of a ClientHello
            stalled.append(sock)
        times = []
        for _ in range(10):
            started = time.time()
            with urllib.request.urlopen(sink.url + "/healthz", timeout=10, context=client_context(cert)) as answer:
                assert answer.status == 200
            with urllib.request.urlopen(sink.url + "/latest", timeout=10, context=client_context(cert)) as answer:
                assert answer.status == 200
            times.append(time.time() - started)
        print("\n/healthz + /latest over TLS beside 100 stalled handshakes: worst {:.3f} s".format(max(times)))
        assert max(times) < 2.0, times
        started = time.time()   # and the stalled ones are dropped at the header timeout (2 s here)
        for sock in stalled:
            try:
                sock.settimeout(max(0.1, started + 5 - time.time()))
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
        assert time.time() - started < 4.0
    finally:
        for sock in stalled:
            sock.close()
        close()


# ----- TLS and a token on edge-serve, with tritonclient ------------------------------------------------
def test_serve_over_tls_with_tritonclient_and_a_token(export_fp32_bundle, certificate):
    import tritonclient.http as httpclient

    from tests.edge.serving import serving

    cert, key = certificate
    with serving(export_fp32_bundle, model_name="colours", token=TOKEN, tls=access(None, cert, key).tls) as server:
        assert server.http.url.startswith("https://")
        client = httpclient.InferenceServerClient(url=server.address, ssl=True, ssl_options={"ca_certs": cert})
        bearer = {"Authorization": "Bearer " + TOKEN}
        try:
            assert client.is_server_live() and client.is_server_ready()        # health: open
            with pytest.raises(Exception, match="bearer token"):
                client.get_model_metadata("colours")
            metadata = client.get_model_metadata("colours", headers=bearer)
            shape = [1] + [int(d) for d in metadata["inputs"][0]["shape"][1:]]
            tensor = httpclient.InferInput(metadata["inputs"][0]["name"], shape, "FP32")
            tensor.set_data_from_numpy(np.zeros(shape, np.float32))
            result = client.infer("colours", [tensor], headers=bearer)
            assert result.as_numpy(metadata["outputs"][0]["name"]).shape == (1, 3)
        finally:
            client.close()
        status, _, _ = fetch("https://127.0.0.1:{}/metrics".format(server.port), headers=bearer,
                             context=client_context(cert))
        assert status == 200


# ----- the flags ------------------------------------------------------------------------------------------
def _serve_main(argv):
    from edge.serve.cli import main
    return main(argv)


def _camera_main(argv):
    from edge.camera import main
    return main(["/nonexistent/bundle", "--source", "/nonexistent/clip.mp4", "--http-port", "0"] + argv)


@needs_openssl
@pytest.mark.parametrize("run", [_serve_main, _camera_main], ids=["edge-serve", "edge-camera"])
def test_tls_flag_errors_are_one_line(run, tmp_path, capsys, export_fp32_bundle):
    cert, key = make_cert(tmp_path)
    other_cert, _ = make_cert(tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (["--tls-cert", cert], "--tls-cert and --tls-key go together"),
        (["--tls-key", key], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", key], "cannot read --tls-cert /nonexistent/cert.pem"),
        (["--tls-cert", cert, "--tls-key", "/nonexistent/key.pem"], "cannot read --tls-key /nonexistent/key.pem"),
        (["--tls-cert", other_cert, "--tls-key", key], "cannot serve TLS with --tls-cert"),
        (["--tls-cert", str(garbage), "--tls-key", key], "cannot serve TLS with --tls-cert"),
        (["--token-file", "/nonexistent/token"], "cannot read --token-file /nonexistent/token"),
    ]
    for argv, message in cases:
        prefix = [export_fp32_bundle] if run is _serve_main else []
        assert run(prefix + argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (argv, err)


def test_camera_warns_when_bound_beyond_loopback_without_a_token(capsys, tmp_path):
    assert _camera_main(["--http-host", "0.0.0.0"]) == 2   # the warning, then the missing bundle
    err = capsys.readouterr().err
    assert "edge-camera: warning: serving on 0.0.0.0 beyond this machine without a token" in err
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    os.chmod(str(token), 0o600)
    assert _camera_main(["--http-host", "0.0.0.0", "--token-file", str(token)]) == 2
    assert "warning" not in capsys.readouterr().err


def test_camera_config_file_takes_the_access_keys(tmp_path):
    from edge.options import camera_config
    from edge.errors import EdgeError

    config = tmp_path / "camera.yaml"
    config.write_text("bundle: b\nsource: x.mp4\ntoken-file: /etc/t\ntls_cert: c.pem\ntls-key: k.pem\n")
    resolved = camera_config.resolve({"tls_key": "flag.pem"}, str(config))
    assert (resolved["token_file"], resolved["tls_cert"], resolved["tls_key"]) == ("/etc/t", "c.pem", "flag.pem")
    config.write_text("bundle: b\nsource: x.mp4\ntoken-file: [a, b]\n")
    with pytest.raises(EdgeError, match="token-file in .* must be a string \\(a file path\\), got a list"):
        camera_config.resolve({}, str(config))


def test_the_camera_daemon_serves_https_with_its_token(export_fp32_bundle, video, certificate, tmp_path):
    from tests.edge.realparts import free_port
    from tests.edge.test_camera_daemon import start_daemon, wait_until

    cert, key = certificate
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    os.chmod(str(token), 0o600)
    config = tmp_path / "camera.yaml"    # the access keys from the YAML file, the rest from flags
    config.write_text("token-file: {}\ntls-cert: {}\ntls-key: {}\n".format(token, cert, key))
    port = free_port()
    daemon = start_daemon([export_fp32_bundle, "--config", str(config), "--source", video, "--realtime", "--loop",
                           "--duration", "30", "--http-port", port])
    base, context = "https://127.0.0.1:{}".format(port), client_context(cert)
    try:
        assert wait_until(lambda: fetch(base + "/healthz", context=context)[0] == 200, 60)
        assert fetch(base + "/latest", context=context)[0] == 401
        assert wait_until(lambda: fetch(base + "/latest", headers={"Authorization": "Bearer " + TOKEN},
                                        context=context)[0] == 200, 30)
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert "serving https://127.0.0.1:{}".format(port) in err and "warning" not in err, err
