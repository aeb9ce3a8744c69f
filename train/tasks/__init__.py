"""The tasks edge-train trains, by name (--task, a checkpoint's "task"): one module each, the training part
of the edge task of the same kind.

    classification   train.tasks.classification.Classification  (the default: a folder of class sub-folders)
    regression       train.tasks.regression.Regression          (labels.csv or <x>_<y>_<id>.jpg names)

A task gives the training loop its loss, batch figures and best-epoch score; the configuration its
defaults, clashes and the folders it claims; the checkpoint its fields; the run folder its history
columns, plots, report and console lines. Nothing outside these modules compares task names: a new
task is a module here and a line in TASKS (or a register call). Importing this package imports no torch.
"""

from collections import OrderedDict

from edge.errors import EdgeError
from train.tasks.classification import Classification
from train.tasks.regression import Regression

TASKS = OrderedDict((task.name, task) for task in (Classification, Regression))   # the first is the default
DEFAULT = next(iter(TASKS.values()))


def register(task):
    """Add a training task (a class like those above) under its name; refused when the name is taken. What a
    test or a plugin calls; unregister(name) takes it away."""
    if task.name in TASKS:
        raise EdgeError("a training task named {!r} is already registered".format(task.name))
    TASKS[task.name] = task
    return task


def unregister(name):
    TASKS.pop(name, None)


def names():
    return tuple(TASKS)


def losses():
    """Every task's losses, in task order (--loss's choices besides auto)."""
    return tuple(loss for task in TASKS.values() for loss in task.losses)


def named(name):
    """The task called `name`; EdgeError for another."""
    if name not in TASKS:
        raise EdgeError("unknown task {!r}: one of {}".format(name, ", ".join(TASKS)))
    return TASKS[name]


def for_folder(data):
    """The task a dataset folder's layout asks for (--task auto): the first that claims it, else the default."""
    return next((task for task in TASKS.values() if task.claims_folder(data)), DEFAULT)


def for_record(record):
    """The task of a checkpoint record (one without "task" is a classifier's: format_version 1); None when the
    record names a task this code does not know."""
    return TASKS.get(record.get("task") or DEFAULT.name)


def for_outputs(targets):
    """The task whose output description `targets` is (model_record's: None for a classifier)."""
    return next(task for task in TASKS.values() if task.describes(targets))
