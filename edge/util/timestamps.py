"""UTC timestamps as the project writes them: ISO-8601 with a Z, in manifests, reports and results."""

import datetime
import time


def utc_timestamp(epoch=None, milliseconds=False):
    """`epoch` seconds (default: now) as "2024-05-01T12:00:00Z", or "...12:00:00.250Z" with milliseconds."""
    moment = datetime.datetime.fromtimestamp(time.time() if epoch is None else epoch, datetime.timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds" if milliseconds else "seconds") + "Z"
