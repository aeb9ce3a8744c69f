"""Image request bodies: a JPEG or PNG as the body, or as a file field of a multipart form.

The declared Content-Type is checked against the bytes (a PNG sent as image/jpeg is refused), and
the image's size is read from its header before it is decoded: a small file can declare a huge
image (a 10 MB PNG of one colour can hold 100 megapixels, 300 MB decoded), so images over
MAX_PIXELS are refused, and at most DECODE_SLOTS images are decoded at once, which bounds the
memory decoding takes however many requests arrive together.
"""

import re
import struct
import threading

from edge.serve.errors import RequestError

JPEG, PNG = "image/jpeg", "image/png"
MAGIC = {JPEG: b"\xff\xd8\xff", PNG: b"\x89PNG\r\n\x1a\n"}
ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG}   # what some clients send for JPEG
MAX_PIXELS = 40 * 1000 * 1000     # a 12 MP phone photo is well inside; 40 MP decoded is 120 MB
DECODE_SLOTS = 4
ACCEPTED = "an image/jpeg or image/png body, or a multipart/form-data form with the image as a file field"
# JPEG start-of-frame markers: C0-CF, except C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

_decoding = threading.BoundedSemaphore(DECODE_SLOTS)


def image_bytes(content_type, body):
    """(encoded image bytes, its type JPEG or PNG) from a request's Content-Type and body."""
    kind, parameters = _media_type(content_type)
    if kind == "multipart/form-data":
        data, declared = form_file(body, parameters.get("boundary"))
        return data, _checked_type(data, declared if declared in MAGIC else None)
    if kind in MAGIC:
        return body, _checked_type(body, kind)
    raise RequestError(415, "Content-Type {!r} is not accepted: send {}".format(content_type or "(none)", ACCEPTED))


def sniff(data):
    """JPEG or PNG from the first bytes, or None."""
    for kind, magic in MAGIC.items():
        if data[:len(magic)] == magic:
            return kind
    return None


def decode(data):
    """The BGR image of checked JPEG or PNG bytes; RequestError 400 when it cannot be decoded, 413 when too large."""
    from edge.preprocess import decode_image

    size = image_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise RequestError(413, "the image is {}x{} pixels, over the limit of {} megapixels".format(
            size[0], size[1], MAX_PIXELS // 1000000))
    with _decoding:
        image = decode_image(data)
    if image is None:
        raise RequestError(400, "the image cannot be decoded (a damaged or truncated file?)")
    return image


def image_size(data):
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame segment; None when not found."""
    if data[:8] == MAGIC[PNG]:
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        return None
    if data[:3] != MAGIC[JPEG]:
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:          # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:   # markers without a length
            position += 2
            continue
        if marker in SOF_MARKERS:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    return None


def form_file(body, boundary):
    """(bytes, declared Content-Type) of a multipart form's image: the first part with a file name,
    else one named "image" or "file"."""
    if not boundary:
        raise RequestError(400, "multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chosen = None
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):   # the closing delimiter
            break
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = _part_headers(head)
        disposition = headers.get("content-disposition", "")
        name = _parameter(disposition, "name")
        if _parameter(disposition, "filename") is not None or name in ("image", "file"):
            chosen = (content, _media_type(headers.get("content-type"))[0])
            if _parameter(disposition, "filename") is not None:
                break
    if chosen is None:
        raise RequestError(400, "the form has no image file field: send it as a file (curl -F image=@photo.jpg)")
    return chosen


def _checked_type(data, declared):
    """The image type: as declared (and the bytes must agree), or sniffed when the part declared none."""
    found = sniff(data)
    if declared is not None and found != declared:
        raise RequestError(400, "the body is not {} ({})".format(
            "a JPEG" if declared == JPEG else "a PNG", "it looks like a {}".format(
                "JPEG" if found == JPEG else "PNG") if found else "unknown format"))
    if found is None:
        raise RequestError(400, "the image is neither a JPEG nor a PNG")
    return found


def _media_type(value):
    """('type/subtype' lower-case, {parameter: value}) of a Content-Type header."""
    if not value:
        return "", {}
    fields = value.split(";")
    parameters = {}
    for field in fields[1:]:
        key, _, item = field.strip().partition("=")
        parameters[key.strip().lower()] = item.strip().strip('"')
    kind = fields[0].strip().lower()
    return ALIASES.get(kind, kind), parameters


def _part_headers(head):
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        key, separator, value = line.partition(":")
        if separator:
            headers[key.strip().lower()] = value.strip()
    return headers


def _parameter(header, name):
    match = re.search(r'(?:^|;)\s*{}="([^"]*)"'.format(name), header) or \
        re.search(r"(?:^|;)\s*{}=([^;\s]*)".format(name), header)
    return match.group(1) if match else None
