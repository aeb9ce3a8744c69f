"""POST /model on edge-camera's page: a bundle .tar.gz uploaded from the browser, handed to the live swap.

The body is the archive itself (Content-Type application/gzip, up to MAX_UPLOAD_BYTES, UPLOAD_TIME_S to send it).
It is unpacked into a new folder beside the running bundle, <its parent>/uploads/<time>/ (the swap never deletes
folders), refusing members that are links, devices, absolute or reach outside it; the folder holding
manifest.json (the top one, or its one sub-folder) goes to edge.daemon.swap's request_reload, which loads it
beside the running model, runs its golden check and switches only if it passes (its outcome: /healthz "model").
Answers 202 (loading), 409 (a swap under way), 400 (not a bundle archive), 411/413 (size), 507 (full disk).
"""

import errno
import os
import shutil
import tarfile
import time

from edge.errors import EdgeError
from edge.net.http_replies import send_json
from edge.util.atomic import atomic_open

MAX_UPLOAD_BYTES = 1 << 30
UPLOAD_TIME_S = 600.0
CHUNK = 1 << 20


class UploadError(EdgeError):
    def __init__(self, message, status=400):
        super(UploadError, self).__init__(message)
        self.status = status


def answer_upload(sink, request, head):
    swap = getattr(sink.telemetry, "reloader", None)
    if swap is None:
        send_json(request, 404, {"error": "this daemon swaps no models"}, head)
        return
    folder = None
    try:
        length = _length(request)
        uploads = os.path.join(os.path.dirname(os.path.abspath(swap.status()["path"])), "uploads")
        folder = _new_folder(uploads)
        request.rfile.deadline = time.time() + UPLOAD_TIME_S
        archive = folder + ".tar.gz"
        try:
            _receive(request, length, archive)
            _unpack(archive, folder)
        finally:
            if os.path.exists(archive):
                os.unlink(archive)
        accepted, message = swap.request_reload(_bundle_folder(folder))
    except (UploadError, OSError, EdgeError) as exc:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        send_json(request, getattr(exc, "status", None) or _status(exc), {"error": _line(exc)}, head)
        return
    if not accepted:
        shutil.rmtree(folder, ignore_errors=True)
        send_json(request, 409, {"error": message}, head)
    else:
        send_json(request, 202, {"accepted": True, "message": message, "folder": folder}, head)


def _length(request):
    length = request.headers.get("Content-Length") or ""
    if not length.isdigit():
        raise UploadError("an upload needs a Content-Length", 411)
    if not 0 < int(length) <= MAX_UPLOAD_BYTES:
        raise UploadError("a bundle upload is 1 byte to {} MiB".format(MAX_UPLOAD_BYTES >> 20), 413)
    return int(length)


def _new_folder(uploads):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for index in range(1000):
        folder = os.path.join(uploads, stamp if index == 0 else "{}-{}".format(stamp, index))
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            continue
    raise UploadError("cannot make a folder under {}".format(uploads), 500)


def _receive(request, length, path):
    left = length
    with atomic_open(path, "wb") as out:
        while left:
            data = request.rfile.read(min(CHUNK, left))
            if not data:
                raise UploadError("the upload ended after {} of {} bytes".format(length - left, length))
            out.write(data)
            left -= len(data)


def _unpack(path, folder):
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = archive.getmembers()
            for member in members:
                name = os.path.normpath(member.name)
                if not (member.isfile() or member.isdir()) or os.path.isabs(name) or name.split(os.sep)[0] == "..":
                    raise UploadError("the archive's {!r} is not a plain file inside it: upload a bundle folder "
                                      "packed with tar czf".format(member.name))
            archive.extractall(folder, members=members)
    except (tarfile.TarError, EOFError, IOError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
        raise UploadError("the upload is not a .tar.gz of a bundle ({})".format(exc))


def _bundle_folder(folder):
    if os.path.isfile(os.path.join(folder, "manifest.json")):
        return folder
    inside = [name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name))]
    if len(inside) == 1 and os.path.isfile(os.path.join(folder, inside[0], "manifest.json")):
        return os.path.join(folder, inside[0])
    raise UploadError("the archive holds no bundle: manifest.json at its top or in its one folder")


def _status(exc):
    return 507 if getattr(exc, "errno", None) == errno.ENOSPC else 500


def _line(exc):
    if getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full: the upload was not kept; free some space"
    return str(getattr(exc, "strerror", None) or exc)
