"""Image request bodies: a JPEG or PNG as the body, or as a file field of a multipart form.

The declared Content-Type is checked against the bytes (a PNG sent as image/jpeg is refused), and
the image's size is read from its header before it is decoded: a small file can declare a huge
image (a 10 MB PNG of one colour can hold 100 megapixels, 300 MB decoded). An image is decoded only
as large as the model needs (decode_plan): a JPEG at 1/2, 1/4 or 1/8 of each side when that still
covers what the bundle's resize makes of it (libjpeg scales while it decodes, so the whole image is
never held); a PNG has no such read and is decoded whole. What a decode takes counts against the
service's pixel budget (edge.serve.budget).
"""

import collections
import re
import struct

from edge.serve.errors import RequestError

JPEG, PNG = "image/jpeg", "image/png"
MAGIC = {JPEG: b"\xff\xd8\xff", PNG: b"\x89PNG\r\n\x1a\n"}
ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG}   # what some clients send for JPEG
REDUCTIONS = (8, 4, 2)   # the fractions of each side OpenCV can decode a JPEG at (IMREAD_REDUCED_COLOR_*)
ACCEPTED = "an image/jpeg or image/png body, or a multipart/form-data form with the image as a file field"
# JPEG start-of-frame markers: C0-CF, except C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
BASELINE_SOF = frozenset((0xC0, 0xC1))   # sequential Huffman: decoded row by row; the others hold every coefficient
# How a request's image is decoded: at 1/reduce of each side, `pixels` decoded (the budget it holds).
DecodePlan = collections.namedtuple("DecodePlan", "width height reduce pixels")


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


def decode_plan(data, spec):
    """The DecodePlan of checked JPEG or PNG bytes for a model preprocessing with `spec` (edge.bundle.preprocess):
    a JPEG at the largest reduction (1/8, 1/4, 1/2) whose both sides still cover the size the bundle's
    resize makes of the image (so the resize never enlarges); a PNG decoded whole. A progressive JPEG
    counts whole however it is read (libjpeg holds all its coefficients). RequestError 400 when the header gives no size."""
    from edge.bundle.preprocess import resize_plan

    header = image_header(data)
    if header is None:
        raise RequestError(400, "the image cannot be decoded (a damaged or truncated file?)")   # no size in its header
    width, height, progressive = header
    if width < 1 or height < 1:
        raise RequestError(400, "the image header says {}x{} pixels".format(width, height))
    needed_h, needed_w = resize_plan((height, width), spec)[:2]
    reduce = 1
    if data[:3] == MAGIC[JPEG]:
        reduce = next((k for k in REDUCTIONS if -(-width // k) >= needed_w and -(-height // k) >= needed_h), 1)
    pixels = width * height if progressive else -(-width // reduce) * -(-height // reduce)
    return DecodePlan(width, height, reduce, pixels)


def decode(data, reduce=1):
    """The BGR image of checked JPEG or PNG bytes, at 1/reduce of each side; RequestError 400 when it cannot be
    decoded. Call it inside the budget's hold for its plan."""
    from edge.bundle.preprocess import decode_image

    image = decode_image(data, reduce)
    if image is None:
        raise RequestError(400, "the image cannot be decoded (a damaged or truncated file?)")
    return image


def full_size(image, plan):
    """(height, width) of the image as sent, for a decoded `image` of `plan` (EXIF may have turned it)."""
    reduced = (-(-plan.height // plan.reduce), -(-plan.width // plan.reduce))
    if tuple(image.shape[:2]) == reduced:
        return plan.height, plan.width
    if tuple(image.shape[:2]) == reduced[::-1]:
        return plan.width, plan.height
    return image.shape[0] * plan.reduce, image.shape[1] * plan.reduce


def image_header(data):
    """(width, height, progressive) from a PNG's IHDR or a JPEG's start-of-frame segment; None when not found."""
    if data[:8] == MAGIC[PNG]:
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24]) + (False,)
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
            return width, height, marker not in BASELINE_SOF
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
