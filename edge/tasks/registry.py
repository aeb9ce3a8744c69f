"""The tasks a bundle can do, keyed by its manifest's output.kind: the one list of them.

    logits       edge.tasks.classification: probabilities and top-k labels
    regression   edge.tasks.regression: named points in pixels of each input image

A new task is one module (an edge.tasks.base.Task) and one line in TASKS; a test (or a plugin) adds one
at run time with register(task) and takes it away with unregister(kind). The daemon, edge-predict,
edge-serve, edge-bench, edge-doctor, the schema and export ask `task_for(bundle)` (or task_named) and
call its methods; none of them compares kinds.
"""

from edge.errors import EdgeError
from edge.tasks.classification import ClassificationTask
from edge.tasks.regression import RegressionTask

DEFAULT_KIND = ClassificationTask.kind   # a manifest without output.kind (schema 1) is a classifier's
TASKS = {task.kind: task for task in (ClassificationTask(), RegressionTask())}


def register(task):
    """Add `task` (an edge.tasks.base.Task) under its kind; refused when that kind is taken."""
    if task.kind in TASKS:
        raise EdgeError("a task of output kind {!r} is already registered".format(task.kind))
    TASKS[task.kind] = task
    return task


def unregister(kind):
    """Remove the task of output `kind` (what register added)."""
    TASKS.pop(kind, None)


def known_kinds():
    """The output kinds this edge-toolkit reads, sorted."""
    return sorted(TASKS)


def task_named(kind):
    """The task of output `kind`; an EdgeError for a kind no task is registered under."""
    try:
        return TASKS[kind]
    except (KeyError, TypeError):
        raise EdgeError("output kind {!r} is not one this edge-toolkit knows ({}): upgrade it".format(
            kind, ", ".join(known_kinds())))


def manifest_kind(manifest):
    """A manifest's output kind (the default for one without it)."""
    output = manifest.get("output") if isinstance(manifest, dict) else None
    return output.get("kind", DEFAULT_KIND) if isinstance(output, dict) else DEFAULT_KIND


def task_for(bundle):
    """The task of a Bundle, or of a manifest dict."""
    return task_named(manifest_kind(getattr(bundle, "manifest", bundle)))


def task_of_result(result):
    """The task whose result vocabulary `result` (one image's result fields) speaks, or None: what a sink,
    which sees results and not the bundle, asks."""
    for kind in known_kinds():
        if TASKS[kind].speaks(result):
            return TASKS[kind]
    return None


def model_for(bundle, runner, k=5, views=None):
    """The result model of `bundle`'s task over an active `runner` (k: labels per classifier result;
    views: edge.tasks.tta.DihedralViews, --tta, default none)."""
    return task_for(bundle).model(bundle, runner, k=k, views=views)


def head_task(targets=None):
    """The task of a model head: named points (a edge.tasks.points.RegressionTargets) are a regression's,
    no names a classifier's. What a checkpoint or a new manifest that gives no kind is."""
    return TASKS[RegressionTask.kind] if targets is not None else TASKS[DEFAULT_KIND]
