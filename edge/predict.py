"""edge-predict: run a bundle on image files: the top-k labels, or a regression bundle's points.

Accepts image files and folders (searched recursively). Unreadable images are reported on
stderr and skipped; the exit code is then 1 (0 when every image was done, 2 usage error).
`--json PATH` writes one document with every image's result (`--json -`: to stdout, instead
of the table).

Images whose folder is named after a class (a copy of the validation set, say) are scored: the
run ends with top-1 accuracy on them beside the validation accuracy training measured, so the
device's figure can be checked against the desktop's.

`--tta hflip` or `--tta d4` runs each image's mirror or its 8 rotations and mirrors (edge.tasks.tta) in
the same batch as the image: a classifier averages their probabilities, a regression bundle its
points, each brought back through the inverse transform first.

A regression bundle gives each image's points ("values") in pixels of that image, whatever its
size: the outputs are mapped back through the bundle's preprocessing. Images with a known point
(a folder given with its labels.csv, or files named <x>_<y>_<id>.jpg) are scored: the run ends
with the MAE in pixels beside the MAE training measured.
"""

import os

from edge.cli import add_json_argument, json_to_stdout, make_parser, progress_log, run_main, write_json_result
from edge.errors import EXIT_OK, EXIT_SOME_FAILED, EdgeError

EPILOG = """examples:
  edge-predict bundle/ photo.jpg
  edge-predict bundle/ images/ --json - --top-k 3     # JSON on stdout instead of the table
  edge-predict bundle/ images/ --runtime tensorrt --build-engine  # builds this GPU's engine first (minutes)
  edge-predict bundle/ images/ --runtime pytorch     # the desktop reference, for comparison
  edge-predict bundle/ data/val/                      # class-named folders: prints top-1 accuracy
  edge-predict bundle/ data/val/ --tta d4             # each image as its 8 rotations and mirrors, averaged
  edge-predict nose-bundle/ data/nose-val/            # regression: points in pixels; labels.csv: prints the MAE
"""


def build_parser():
    from edge.options.runner_args import add_runner_arguments, add_tta_argument

    parser = make_parser("edge-predict", __doc__, EPILOG)
    parser.add_argument("bundle", help="bundle folder written by edge-export")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--top-k", type=int, default=5, help="labels per image, classifiers (default 5)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="images per inference call (default 8; with --tta each brings its views)")
    add_json_argument(parser, "every image's result")
    add_runner_arguments(parser)
    add_tta_argument(parser)
    return parser


def expand_images(paths):
    """Files as given, folders walked in sorted order; missing paths are a user error."""
    from edge.util.image_folders import image_files

    found = []
    for path in paths:
        if os.path.isdir(path):
            found.extend(image_files(path))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise EdgeError("{} not found".format(path))
    if not found:
        raise EdgeError("no images found in {}".format(", ".join(paths)))
    return found


def predict_files(model, paths, batch_size):
    """Yield (path, result fields or None when unreadable) in input order.

    model: a Classifier or Regressor (edge.tasks.registry.model_for); the fields are edge.tasks.postprocess's.
    """
    from edge.bundle.preprocess import read_image

    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = [read_image(path) for path in chunk]
        readable = [image for image in images if image is not None]
        results = iter(model.results(readable)[0] if readable else [])
        for path, image in zip(chunk, images):
            yield path, (next(results) if image is not None else None)


def trained_val(bundle):
    """What training measured on its validation set ({"accuracy", "images"}, or a regression model's
    {"mae_px", "images", ...}), or {}."""
    return ((bundle.manifest["model"].get("source") or {}).get("metrics") or {}).get("val") or {}


class Score(object):
    """Top-1 accuracy on images that sit in a folder named after one of the classes."""

    def __init__(self, classes, tta="none"):
        self.classes = set(classes)
        self.tta = tta
        self.correct = 0
        self.total = 0

    def add(self, path, fields):
        truth = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if truth not in self.classes:
            return None
        self.total += 1
        self.correct += int(fields["prediction"] == truth)
        return truth

    def summary(self, bundle):
        text = "top-1 accuracy {:.2%}{} ({} of {} images in class-named folders)".format(
            self.correct / float(self.total), "" if self.tta == "none" else " with --tta " + self.tta, self.correct,
            self.total)
        trained = trained_val(bundle)
        if trained.get("accuracy") is not None:
            text += "; training measured {:.2%} on {} validation images".format(
                trained["accuracy"], trained.get("images", "its"))
        return text

    def fields(self, bundle):
        return {"correct": self.correct, "images": self.total, "accuracy": self.correct / float(self.total),
                "training_val": trained_val(bundle) or None}


class PointScore(object):
    """MAE in pixels on images whose point is known: rows of a labels.csv in a folder given, or
    <x>_<y>_<id>.jpg names (one-point bundles, targets x,y)."""

    def __init__(self, targets, inputs, log):
        from edge.tasks.point_labels import LABELS_CSV, folder_points

        self.targets, self.log = targets, log
        self.known = {}        # absolute path -> (pixel values, where the label came from)
        for item in inputs:
            if os.path.isdir(item) and os.path.isfile(os.path.join(item, LABELS_CSV)):
                labels = folder_points(item)
                if labels.targets != targets:
                    raise EdgeError("{} labels targets {}, the bundle outputs {}".format(
                        os.path.join(item, LABELS_CSV), ",".join(labels.targets.names), ",".join(targets.names)))
                self.known.update((os.path.abspath(path), (values, where)) for path, values, where in labels.entries)
        self.predicted, self.true = [], []

    @property
    def total(self):
        return len(self.true)

    def truth(self, path):
        from edge.tasks.point_labels import NAME_TARGETS, point_from_name

        known = self.known.get(os.path.abspath(path))
        if known is None and tuple(self.targets.names) == NAME_TARGETS:
            point = point_from_name(path)
            known = (list(point), "file name {}".format(os.path.basename(path))) if point else None
        return known

    def add(self, path, fields):
        """The image's labelled point as {target: pixels}, counted in the score; None when it has none."""
        from edge.tasks.point_labels import inside_problem

        known = self.truth(path)
        if known is None:
            return None
        values, where = known
        problem = inside_problem(values, (fields["image"]["height"], fields["image"]["width"]), self.targets.names,
                                 where)
        if problem:
            self.log("not scored: " + problem)
            return None
        self.true.append(values)
        self.predicted.append([fields["values"][name] for name in self.targets.names])
        return self.targets.values(values)

    def figures(self):
        from edge.tasks.points import error_summary

        return error_summary(self.predicted, self.true, self.targets.names)

    def summary(self, bundle):
        from edge.tasks.points import summary_text

        text = "{} on {} labelled images".format(summary_text(self.figures()), self.total)
        trained = trained_val(bundle)
        if trained.get("mae_px") is not None:
            text += "; training measured MAE {:.2f} px on {} validation images".format(
                trained["mae_px"], trained.get("images", "its"))
        return text

    def fields(self, bundle):
        return dict(self.figures(), training_val=trained_val(bundle) or None)


def row_text(fields):
    """One image's result as the table shows it: its top-k, or its points (and their labels, when known)."""
    if "values" in fields:
        text = "  ".join("{} {:.2f}".format(name, value) for name, value in fields["values"].items())
        if fields.get("truth"):
            text += "  (labelled {})".format(" ".join("{} {:g}".format(name, value)
                                                      for name, value in fields["truth"].items()))
        return text
    return "  ".join("{} {:.3f}".format(item["label"], item["confidence"]) for item in fields["top"])


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options.ranges import check_args
    from edge.options.runner_args import RUNNER_NUMBERS
    check_args(args, ("top_k", "batch_size") + RUNNER_NUMBERS)
    from edge.bundle.bundle import Bundle
    from edge.tasks.registry import model_for
    from edge.runners.select import make_runner
    from edge.tasks.tta import DihedralViews

    log = progress_log("edge-predict")
    table = not json_to_stdout(args)
    bundle = Bundle.load(args.bundle)
    views = DihedralViews.for_bundle(bundle, args.tta)
    paths = expand_images(args.images)
    runner, why = make_runner(bundle, args.runtime or "auto", args.precision or "auto", threads=args.threads,
                              checkpoint=args.checkpoint, build_engine=bool(args.build_engine), log=log)
    rows, unreadable = [], []
    score = Score(bundle.classes, args.tta) if bundle.targets is None else PointScore(bundle.targets, args.images, log)
    with runner:
        log("runtime: {} ({})".format(runner.describe(), why))
        if views.count > 1:
            log(views.describe(runner.batch_limit()))
        model = model_for(bundle, runner, k=args.top_k, views=views)
        width = max(len(path) for path in paths)
        for path, fields in predict_files(model, paths, args.batch_size):
            if fields is None:
                unreadable.append(path)
                log("skipped {}: cannot be decoded as an image".format(path))
                continue
            row = dict(fields, file=path)
            truth = score.add(path, fields)
            if truth is not None:
                row["truth"] = truth
            rows.append(row)
            if table:
                print("{:<{w}}  {}".format(path, row_text(row), w=width))
        runtime = runner.describe()
    if score.total and table:
        print(score.summary(bundle))
    if args.json:
        write_json_result(args.json, {
            "schema": "edge-toolkit/predict", "schema_version": 1, "bundle": bundle.path, "runtime": runtime,
            "tta": args.tta, "results": rows, "unreadable": unreadable,
            "score": score.fields(bundle) if score.total else None})
    if unreadable:
        log("{} of {} images could not be read".format(len(unreadable), len(paths)))
        return EXIT_SOME_FAILED
    return EXIT_OK


def main(argv=None):
    return run_main("edge-predict", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
