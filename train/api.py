"""`train.fit`: edge-train as a function call, for notebooks.

    import train
    run = train.fit("data/flowers", epochs=5, size=160, arch="resnet34")
    run.metrics["accuracy"], run.model_path      # metrics.json as a dict, runs/flowers-resnet34/model.pt

Options are edge-train's flags with underscores (`--batch-size 16` is `batch_size=16`, `--d4` is
`d4=True`); what is not given comes from a YAML file (`config=`) and then train.config.DEFAULTS.
The run is the one edge-train makes: the same resolution of options, the same run_training, the
same run folder.
"""

import json
import os

from edge.errors import EdgeError
from train import config as train_config
from train import tasks

def option_names():
    """The keyword options fit takes besides data, config, resume, overwrite and log."""
    return sorted(set(train_config.DEFAULTS) - {"data"} | set(train_config.AUGMENT_KEYS))


class TrainingRun(object):
    """A finished run: its folder, its outputs' paths by role (train.outputs.write_run_outputs: model,
    metrics, history, curves, confusion (regression: scatter), labels, report, config), metrics.json as a dict."""

    def __init__(self, run_dir, paths, seconds):
        self.run_dir = run_dir
        self.paths = dict(paths)
        self.seconds = seconds
        with open(self.paths["metrics"], "r", encoding="utf-8") as handle:
            self.metrics = json.load(handle)

    @property
    def model_path(self):
        """model.pt: the best epoch, what edge-export and export.export_bundle take."""
        return self.paths["model"]

    @property
    def task(self):
        """The task's name (train.tasks); metrics.json names any but the default."""
        return self.metrics.get("task", tasks.DEFAULT.name)

    @property
    def accuracy(self):
        """Validation top-1 accuracy of a classifier; None for a regression run (see mae)."""
        return self.metrics.get("accuracy")

    @property
    def mae(self):
        """Validation MAE in pixels of a regression run; None for a classifier."""
        return self.metrics.get("mae_px")

    @property
    def best_epoch(self):
        return self.metrics["best_epoch"]

    @property
    def classes(self):
        """The class names; a regression run's output names are its targets."""
        return list(self.metrics.get("classes") or self.metrics["targets"])

    def __repr__(self):
        return tasks.named(self.task).run_repr(self)


def fit(data=None, config=None, resume=None, overwrite=False, log=print, **options):
    """Train on the image folder `data` (one sub-folder per class; regression: labels.csv or <x>_<y>_<id>.jpg
    names, task="regression" or detected); returns a TrainingRun.

    config: a YAML file of options (edge-train --config); resume: a run's last.pt to continue it
    exactly as configured; overwrite: reuse an `out` folder that holds an earlier run; log: where
    progress lines go. Every other keyword is an edge-train flag (see option_names()). In a notebook
    each epoch shows tqdm.auto's bar (edge.util.progress); where stderr is a log file, a line every 10 s.
    """
    unknown = sorted(set(options) - set(option_names()))
    if unknown:
        # TypeError, as for any misspelt keyword (export.options.ExportOptions does the same).
        raise TypeError("train.fit: unknown option(s) {}; the options are edge-train's flags with "
                        "underscores: {}".format(", ".join(unknown), ", ".join(option_names())))
    data, config, resume = plain_path(data), plain_path(config), plain_path(resume)
    options = dict((name, plain_path(value)) for name, value in options.items())
    if resume:
        if data or config or options:
            raise EdgeError("train.fit: resume continues a run exactly as configured; pass no data, config "
                            "or options with it")
        resolved = None
    else:
        resolved = train_config.resolve(dict(options, data=data), config)
        refuse_earlier_run(resolved.get("out"), overwrite)
    from train.run import run_training  # torch is imported here, after the options were checked
    result = run_training(resolved, resume=resume, log=log)
    return TrainingRun(result["run_dir"], result["paths"], result["seconds"])


def plain_path(value):
    """A pathlib.Path as the str the configuration records (config.yaml holds plain values); else as given."""
    return os.fspath(value) if hasattr(value, "__fspath__") else value


def refuse_earlier_run(out, overwrite):
    """EdgeError when `out` holds a run and overwriting it was not asked for."""
    last = train_config.earlier_run(out)
    if last and not overwrite:
        raise EdgeError("{} already holds a run; continue it with resume={!r}, or pass overwrite=True or "
                        "another out".format(out, last))
