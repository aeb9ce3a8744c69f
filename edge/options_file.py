"""Options from a YAML file with the same keys as a command's flags (dashes or underscores)."""

import os

from edge.errors import EdgeError, first_line
from edge.lazy import require


def load_options(path):
    """{option_name: value} from a YAML mapping; one clear EdgeError for a missing or malformed file."""
    yaml = require("yaml", "reading --config")
    if not os.path.isfile(path):
        raise EdgeError("config file {} not found".format(path))
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle) or {}
        except yaml.YAMLError as exc:
            raise EdgeError("config file {} is not valid YAML: {}".format(path, first_line(exc, limit=None)))
    if not isinstance(data, dict):
        raise EdgeError("config file {} must be a mapping of option: value".format(path))
    return dict((str(key).replace("-", "_"), value) for key, value in data.items())
