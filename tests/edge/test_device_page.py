"""edge-camera's page in a real headless browser (Debian's chromium through selenium and chromedriver), on a
running daemon reading a looping ffmpeg video: the text the page draws (prediction, state, frame rate, model),
tagging frames into classes through the page's controls, the downloaded archive, undo, a clicked regression
point, the token's login, and a full disk (a 64 KB tmpfs).

EDGE_SCREENSHOTS=DIR saves the page's screenshots there (the README's are jetson/screenshots/)."""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.edge.realparts import free_port
from tests.edge.test_camera_daemon import get, start_daemon, wait_until

pytestmark = pytest.mark.browser
NAME = re.compile(r"^(?P<label>[a-z]+)-\d{8}-\d{6}-\d{4}\.jpg$")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class Daemon(object):
    def __init__(self, argv):
        self.port = free_port()
        self.base = "http://127.0.0.1:{}".format(self.port)
        self.process = start_daemon(argv + ["--http-port", self.port, "--duration", "120"])
        if not wait_until(lambda: get(self.base + "/healthz")[0] == 200, 60, step=0.2):
            self.process.terminate()
            raise AssertionError(self.process.communicate(timeout=30)[1][-3000:])

    def stop(self):
        self.process.terminate()
        return self.process.communicate(timeout=30)


@pytest.fixture
def daemon():
    started = []
    yield lambda argv: started.append(Daemon([str(a) for a in argv])) or started[-1]
    for one in started:
        one.stop()


def text(driver, element_id):
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def wait_text(driver, element_id, pattern, timeout=30):
    found = wait_until(lambda: re.search(pattern, text(driver, element_id)), timeout, step=0.1)
    assert found, "#{}: {!r} does not match {!r}".format(element_id, text(driver, element_id), pattern)
    return found


def screenshot(driver, tmp_path, name):
    path = str(tmp_path / name)
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(path)
    assert os.path.getsize(path) > 5000
    if os.environ.get("EDGE_SCREENSHOTS"):
        shutil.copy(path, os.path.join(os.environ["EDGE_SCREENSHOTS"], name))


def use_page_to_add_and_capture(driver, label, count):
    box = driver.find_element("id", "new-class")
    box.clear()
    box.send_keys(label)
    driver.find_element("css selector", "#add-class button").click()
    wait_until(lambda: driver.find_elements("css selector", "#classes button.chosen[data-label='{}']".format(label)),
               10)
    driver.find_element("css selector", "#classes button[data-label='{}']".format(label)).click()
    count_box = driver.find_element("id", "count")
    count_box.clear()
    count_box.send_keys(str(count))
    rate = driver.find_element("id", "rate")
    rate.clear()
    rate.send_keys("10")
    driver.find_element("id", "capture-button").click()


def count_of(driver, label):
    return driver.execute_script("var c = document.querySelector(arguments[0]); return c ? c.textContent : null",
                                 "td[data-count='{}']".format(label))


def fetch_in_page(driver, url):
    """The bytes of `url` fetched by the page itself (its cookie, its origin), and the status."""
    status, data = driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"}).then(function (r) {
          return r.arrayBuffer().then(function (buf) {
            var bytes = new Uint8Array(buf), text = "";
            for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
            done([r.status, btoa(text)]);
          });
        });""", url)
    return status, base64.b64decode(data)


def test_the_page_shows_the_prediction_and_health_and_tags_frames_into_two_classes(
        browser, daemon, export_fp32_bundle, video, tmp_path):
    import cv2

    dataset = tmp_path / "thumbs"
    camera = daemon([export_fp32_bundle, "--source", video, "--loop", "--realtime", "--dataset", dataset])
    browser.set_window_size(1200, 900)
    browser.get(camera.base + "/")
    latest = json.loads(get(camera.base + "/latest")[2].decode())
    labels = [entry["label"] for entry in latest["top"]] if "top" in latest else [latest["prediction"]]
    shown = wait_text(browser, "prediction", r"^(\S+) (\d+\.\d)%$")
    assert 0.0 <= float(shown.group(2)) <= 100.0
    assert shown.group(1) in labels + [latest["prediction"]] or shown.group(1) in open(
        os.path.join(export_fp32_bundle, "manifest.json")).read()
    wait_text(browser, "state", r"^ok$")
    fps = float(wait_text(browser, "fps", r"^(\d+\.\d) fps$").group(1))
    assert 5.0 < fps < 80.0   # a 30 fps video played in real time
    assert re.match(r"^\d+\.\d ms$", text(browser, "p50"))
    assert text(browser, "runtime") == latest["runtime"].split(" ")[0]
    assert text(browser, "precision") == latest["runtime"].split(" ")[1] and text(browser, "precision") in (
        "fp32", "fp16", "int8")
    # The live view is scaled to the window, not shown at the video's 160 pixels.
    frame = browser.find_element("id", "frame")
    assert wait_until(lambda: browser.execute_script("return arguments[0].naturalWidth", frame) == 160, 10)
    assert frame.size["width"] > 400

    use_page_to_add_and_capture(browser, "up", 2)
    assert wait_until(lambda: count_of(browser, "up") == "2", 15), text(browser, "message")
    use_page_to_add_and_capture(browser, "down", 1)
    assert wait_until(lambda: count_of(browser, "down") == "1", 15), text(browser, "message")
    wait_text(browser, "message", r"saved 1 frame\(s\) of down")
    screenshot(browser, tmp_path, "page-classifier.png")

    status, data = fetch_in_page(browser, browser.find_element("id", "download").get_attribute("href"))
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = sorted(member.name for member in archive.getmembers() if member.isfile())
        images = dict((name, archive.extractfile(name).read()) for name in members)
    assert [name.split("/")[:2] for name in members] == [["thumbs", "down"], ["thumbs", "up"], ["thumbs", "up"]]
    for name, jpeg in images.items():
        match = NAME.match(name.split("/")[2])
        assert match and match.group("label") == name.split("/")[1], name
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    assert sorted(os.listdir(str(dataset / "up"))) == sorted(n.split("/")[2] for n in members if "/up/" in n)

    browser.find_element("id", "undo").click()   # the last capture: the one frame of "down"
    assert wait_until(lambda: count_of(browser, "down") == "0", 10)
    assert os.listdir(str(dataset / "down")) == [] and len(os.listdir(str(dataset / "up"))) == 2

    # On a phone's width the page reflows: nothing wider than the screen, the view as wide as it.
    browser.set_window_size(390, 844)
    assert wait_until(lambda: browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"), 5)
    inner = browser.execute_script("return window.innerWidth")
    assert inner - 40 <= browser.find_element("id", "frame").size["width"] <= inner
    screenshot(browser, tmp_path, "page-phone.png")


def test_a_click_on_a_regression_model_s_image_records_the_point(
        browser, daemon, regression_bundle, regression_images, tmp_path):
    from edge.tasks.point_labels import folder_points

    dataset = tmp_path / "nose"
    camera = daemon([regression_bundle, "--source", regression_images, "--loop", "--realtime", "--fps", "10",
                     "--dataset", dataset])
    browser.set_window_size(1200, 900)
    browser.get(camera.base + "/")
    wait_text(browser, "prediction", r"^point \S* ?-?\d+\.\d, -?\d+\.\d$")
    # The marker sits on the image where the result's point is, in the image's own pixels.
    where = wait_until(lambda: browser.execute_script("""
        var m = document.querySelector('#view .marker'), f = document.getElementById('frame');
        if (!m || !latest) { return null; }
        var mb = m.getBoundingClientRect(), fb = f.getBoundingClientRect();
        return [(mb.left + mb.width / 2 - fb.left) / fb.width * latest.image.width, latest.values.x,
                (mb.top + mb.height / 2 - fb.top) / fb.height * latest.image.height, latest.values.y];"""), 10)
    assert where and abs(where[0] - where[1]) < 0.5 and abs(where[2] - where[3]) < 0.5, where
    frame = browser.find_element("id", "frame")
    assert wait_until(lambda: browser.execute_script("return arguments[0].naturalWidth", frame) == 48, 10)
    width, height = frame.size["width"], frame.size["height"]
    assert width > 500 and abs(height / float(width) - 40 / 48.0) < 0.02
    from selenium.webdriver.common.action_chains import ActionChains

    # A real mouse click 3/4 across and 1/4 down the image, at viewport coordinates.
    box = browser.execute_script("arguments[0].scrollIntoView(); var b = arguments[0].getBoundingClientRect(); "
                                 "return [b.left, b.top, b.width, b.height];", frame)
    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(box[0] + 0.75 * box[2]), int(box[1] + 0.25 * box[3]))
    actions.w3c_actions.pointer_action.click()
    actions.perform()
    saved = wait_text(browser, "message", r"^point (\d+),(\d+) saved as (\S+)$", timeout=10)
    x, y, name = int(saved.group(1)), int(saved.group(2)), saved.group(3)
    assert abs(x - 36) <= 1 and abs(y - 10) <= 1
    assert name.startswith("{}_{}_".format(x, y))
    with open(str(dataset / "labels.csv")) as handle:
        assert handle.read() == "file,x,y\n{},{},{}\n".format(name, x, y)
    labels = folder_points(str(dataset))   # the way edge-train reads it
    assert [(os.path.basename(path), values) for path, values, _ in labels.entries] == [(name, [x, y])]
    assert wait_until(lambda: count_of(browser, "points") == "1", 10)
    screenshot(browser, tmp_path, "page-regression.png")
    browser.find_element("id", "undo").click()
    assert wait_until(lambda: count_of(browser, "points") == "0", 10)
    assert os.listdir(str(dataset)) == ["labels.csv"]
    with open(str(dataset / "labels.csv")) as handle:
        assert handle.read() == "file,x,y\n"


def test_with_a_token_the_page_needs_the_login_and_posts_need_the_token(browser, daemon, export_fp32_bundle,
                                                                         video, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-page-token")
    os.chmod(str(token), 0o600)
    camera = daemon([export_fp32_bundle, "--source", video, "--loop", "--realtime", "--dataset", tmp_path / "data",
                     "--token-file", token])
    browser.delete_all_cookies()
    browser.get(camera.base + "/")
    assert "needs its token" in browser.find_element("tag name", "body").text
    for path, data in (("/dataset/class", b"label=sneaky"), ("/dataset/capture", b"label=sneaky"),
                       ("/model", b"\x1f\x8b not even a bundle")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(camera.base + path, data=data), timeout=5)
        assert refused.value.code == 401
    assert get(camera.base + "/dataset.tar.gz")[0] == 401 and get(camera.base + "/latest.jpg")[0] == 401
    with pytest.raises(urllib.error.HTTPError) as refused:   # a burst past the bounds: one line, 400
        urllib.request.urlopen(urllib.request.Request(camera.base + "/dataset/capture", data=b"label=x&count=100&rate=1",
                                                      headers={"Authorization": "Bearer s3cret-page-token"}), timeout=5)
    assert refused.value.code == 400 and "over 60 s at most" in json.loads(refused.value.read().decode())["error"]
    assert not os.path.exists(str(tmp_path / "data" / "sneaky"))
    box = browser.find_element("name", "token")
    box.send_keys("s3cret-page-token")
    box.submit()
    wait_text(browser, "state", r"^ok$")
    use_page_to_add_and_capture(browser, "cat", 1)
    assert wait_until(lambda: count_of(browser, "cat") == "1", 15), text(browser, "message")
    assert len(os.listdir(str(tmp_path / "data" / "cat"))) == 1


@pytest.fixture
def tiny_disk(tmp_path):
    where = tmp_path / "tiny"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                      stderr=subprocess.PIPE).returncode != 0:
        pytest.skip("mounting a 64 KB tmpfs needs root")
    yield where
    subprocess.run(["umount", "-l", str(where)])


def test_a_full_disk_is_said_on_the_page_and_leaves_nothing_half_written(browser, daemon, export_fp32_bundle,
                                                                         video, tiny_disk):
    import cv2

    camera = daemon([export_fp32_bundle, "--source", video, "--loop", "--realtime", "--dataset", tiny_disk / "data"])
    browser.get(camera.base + "/")
    wait_text(browser, "state", r"^ok$")
    use_page_to_add_and_capture(browser, "full", 60)
    shown = wait_text(browser, "message", r"disk holding \S+ is full: (\d+) of 60 frame\(s\) saved", timeout=30)
    assert "error" in browser.find_element("id", "message").get_attribute("class")
    folder = str(tiny_disk / "data" / "full")
    names = sorted(os.listdir(folder))
    assert len(names) == int(shown.group(1)) > 0
    for name in names:   # no temporary file left; every image whole
        assert NAME.match(name), name
        assert cv2.imread(os.path.join(folder, name)) is not None
    assert wait_until(lambda: count_of(browser, "full") == str(len(names)), 10)


def packed(folder, out, tamper=False):
    """`folder` packed as a .tar.gz the way a desktop would (tar czf), with a byte added to its model if `tamper`."""
    copy = os.path.join(os.path.dirname(out), "bundle")
    shutil.copytree(folder, copy)
    if tamper:
        with open(os.path.join(copy, "model.onnx"), "ab") as handle:
            handle.write(b"\0")
    with tarfile.open(out, "w:gz", compresslevel=1) as archive:
        archive.add(copy, arcname="bundle")
    shutil.rmtree(copy)
    return out


def upload_from_page(driver, archive):
    driver.find_element("id", "bundle-file").send_keys(archive)
    driver.find_element("css selector", "#upload button").click()


def test_a_bundle_uploaded_from_the_page_is_swapped_in_and_a_replaced_model_is_refused(
        browser, daemon, export_fp32_bundle, video, tmp_path):
    live = str(tmp_path / "live")
    shutil.copytree(export_fp32_bundle, live)
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = packed(export_fp32_bundle, str(tmp_path / "good" / "good.tar.gz"))
    bad = packed(export_fp32_bundle, str(tmp_path / "bad" / "bad.tar.gz"), tamper=True)
    camera = daemon([live, "--source", video, "--loop", "--realtime"])
    browser.get(camera.base + "/")
    wait_text(browser, "state", r"^ok$")
    assert wait_until(lambda: browser.find_element("id", "no-dataset").is_displayed(), 5)   # no --dataset
    assert not browser.find_element("id", "recorder").is_displayed()
    upload_from_page(browser, good)
    wait_text(browser, "message", r"^uploaded good.tar.gz: loading \S+uploads\S+bundle$")
    wait_text(browser, "swap", r"^switched", timeout=60)
    model = json.loads(get(camera.base + "/healthz")[2].decode())["model"]
    assert model["path"].startswith(os.path.join(str(tmp_path), "uploads")) and model["swap"]["state"] == "switched"
    upload_from_page(browser, bad)
    wait_text(browser, "swap", r"^refused: .*does not match its sha256", timeout=60)
    wait_text(browser, "reason", r"does not match its sha256")
    after = json.loads(get(camera.base + "/healthz")[2].decode())["model"]
    assert after["id"] == model["id"] and after["path"] == model["path"]   # the good one goes on
    assert sorted(os.listdir(str(tmp_path / "uploads"))) and not [
        name for name in os.listdir(str(tmp_path / "uploads")) if name.endswith(".tar.gz")]
