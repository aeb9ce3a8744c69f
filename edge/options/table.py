"""A command's options declared once, as rows: each gives the flag, the YAML key, the type, the default and
(through edge.options.ranges, by name) the limits.

A row's name is the flag without its dashes and the YAML key (dashes or underscores). Its kind is int,
float, bool, str or list (a repeatable flag; YAML: a list of strings). A row `declared_by` a shared helper
(edge.options.runner_args, edge.net.http_access) has its flag made there: the table still gives its
YAML key, type and default. `add_flags` puts rows on an argparse group; `OptionTable.resolve` layers
built-in defaults < a YAML file < flags, with every value checked as it is read.
"""

from edge.errors import EdgeError
from edge.options.ranges import RANGES, check, help_text, type_name
from edge.options.yaml_file import load_options

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class Option(object):
    """One option: name, kind (int, float, bool, str, list), built-in default, --help text; `what` the
    value a text option holds (named when YAML gives a list); choices; flag when it is not --name;
    declared_by: the helper that makes the flag, when the table does not."""

    def __init__(self, name, kind, default=None, help=None, what=None, choices=None, flag=None, metavar=None,
                 declared_by=None):
        self.name, self.kind, self.default, self.help, self.declared_by = name, kind, default, help, declared_by
        self.what, self.choices, self.metavar = what, choices, metavar
        self.flag = flag or "--" + name.replace("_", "-")

    def __repr__(self):
        return "Option({!r}, {})".format(self.name, self.kind.__name__)

    def flag_arguments(self, with_default=False):
        """The argparse keywords of the flag; default None unless `with_default` (unset flags fall through)."""
        keywords = {"dest": self.name, "default": self.default if with_default else None, "help": self.help}
        if self.kind is bool:
            keywords.update(action="store_const", const=True)
        elif self.kind is list:
            keywords.update(action="append", metavar=self.metavar)
        else:
            keywords.update(choices=self.choices, metavar=self.metavar)
            if self.kind in (int, float):
                keywords["type"] = self.kind
        if self.kind in (int, float) and self.name in RANGES and self.help:
            keywords["help"] = help_text(self.name, self.help)
        return keywords

    def coerce(self, value, where):
        """`value` as this option's kind, inside its range; `where` names it in errors ("--threads",
        "threads in FILE")."""
        if value is None:
            return None
        if self.kind in (int, float):
            return check(self.name, value, where, kind=self.kind)
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in TRUE_WORDS + FALSE_WORDS:
                return str(value).lower() in TRUE_WORDS
            raise EdgeError("{} must be true or false, got {}".format(where, type_name(value)))
        if self.kind is list:
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
                raise EdgeError("{} must be a list of strings ({}), got {}".format(where, self.what, type_name(value)))
            return list(values)
        if not isinstance(value, str):
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)  # `source: 0` (a camera index), `mqtt_client_id: 7`
            raise EdgeError("{} must be a string ({}), got {}".format(where, self.what, type_name(value)))
        return value


def add_flags(group, rows, with_defaults=False):
    """Each row's flag on `group` (an argparse parser or group), but those declared by a shared helper."""
    for row in rows:
        if row.declared_by is None:
            group.add_argument(row.flag, **row.flag_arguments(with_defaults))
    return group


def check_numbers(args, rows):
    """The numbers among `rows` that were given (argparse dests), checked against their ranges, in place."""
    for row in rows:
        value = getattr(args, row.name)
        if row.kind in (int, float) and value is not None:
            setattr(args, row.name, check(row.name, value, row.flag))
    return args


class Resolved(dict):
    """Resolved options; `given`: the names a YAML file or a flag set (the rest are built-in defaults)."""
    given = frozenset()


class OptionTable(object):
    """A command's rows, by name."""

    def __init__(self, rows):
        self.rows = tuple(rows)
        self.by_name = dict((row.name, row) for row in self.rows)

    def names(self):
        return tuple(row.name for row in self.rows)

    def defaults(self):
        return dict((row.name, row.default) for row in self.rows)

    def flags_of(self, args):
        """{name: value} of the parsed flags (None: not given)."""
        return dict((name, getattr(args, name)) for name in self.names())

    def resolve(self, flags, config_path=None):
        """Defaults < YAML < flags (None in flags = not given), each value checked as read; unknown keys refused."""
        config = Resolved(self.defaults())
        layers = [load_options(config_path)] if config_path else []
        layers.append(dict((k, v) for k, v in flags.items() if v is not None))
        given = set()
        for layer in layers:
            from_file = layer is not layers[-1]
            for key, value in layer.items():
                if key not in self.by_name:
                    raise EdgeError("unknown option {!r} in {}".format(key, config_path if from_file else "flags"))
                name = key.replace("_", "-")
                config[key] = self.by_name[key].coerce(
                    value, "{} in {}".format(name, config_path) if from_file else "--" + name)
                given.add(key)
        config.given = frozenset(given)
        return config

    def check_numbers(self, config):
        """Every number in `config` (a dict built elsewhere too) inside its range; returns `config`."""
        for row in self.rows:
            if row.kind in (int, float) and config.get(row.name) is not None:
                check(row.name, config[row.name], "--" + row.name.replace("_", "-"), kind=row.kind)
        return config
