"""Options from a YAML file with the same keys as a command's flags (dashes or underscores)."""

import os

from edge.errors import EdgeError, first_line, path_error
from edge.util.lazy import require


def load_options(path):
    """{option_name: value} from a YAML mapping; one clear EdgeError for a missing, unreadable, non-UTF-8
    or malformed file (every --config: edge-camera's, edge-train's)."""
    yaml = require("yaml", "reading --config")
    if not os.path.isfile(path):
        raise EdgeError("config file {} not found".format(path))
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:  # no permission; Latin-1 or binary bytes
        raise path_error("read", path, exc, "config file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise EdgeError("config file {} is not valid YAML: {}".format(path, first_line(exc, limit=None)))
    except ValueError as exc:  # a value YAML reads as a date that is none: 2020-13-45
        raise EdgeError("config file {} holds a value YAML cannot read: {}".format(path, first_line(exc)))
    except RecursionError:
        raise EdgeError("config file {} is nested too deeply to be a config".format(path))
    if not isinstance(data, dict):
        raise EdgeError("config file {} must be a mapping of option: value".format(path))
    return dict((str(key).replace("-", "_"), value) for key, value in data.items())
