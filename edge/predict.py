"""edge-predict: classify image files with a bundle and print the top-k labels.

Accepts image files and folders (searched recursively). Unreadable images are reported on
stderr and skipped; the exit code is then 1 (0 when every image was classified, 2 usage error).
`--json PATH` writes one document with every image's result (`--json -`: to stdout, instead
of the table).

Images whose folder is named after a class (a copy of the validation set, say) are scored: the
run ends with top-1 accuracy on them beside the validation accuracy training measured, so the
device's figure can be checked against the desktop's.

`--tta hflip` or `--tta d4` classifies each image by the average probabilities of its mirror or
its 8 rotations and mirrors (edge.tta), run in the same batch as the image.
"""

import os

from edge.cli import add_json_argument, json_to_stdout, make_parser, progress_log, run_main, write_json_result
from edge.errors import EXIT_OK, EXIT_SOME_FAILED, EdgeError
from edge.postprocess import result_fields

EPILOG = """examples:
  edge-predict bundle/ photo.jpg
  edge-predict bundle/ images/ --json - --top-k 3     # JSON on stdout instead of the table
  edge-predict bundle/ images/ --runtime tensorrt --build-engine  # builds this GPU's engine first (minutes)
  edge-predict bundle/ images/ --runtime pytorch     # the desktop reference, for comparison
  edge-predict bundle/ data/val/                      # class-named folders: prints top-1 accuracy
  edge-predict bundle/ data/val/ --tta d4             # each image as its 8 rotations and mirrors, averaged
"""


def build_parser():
    from edge.runner_args import add_runner_arguments, add_tta_argument

    parser = make_parser("edge-predict", __doc__, EPILOG)
    parser.add_argument("bundle", help="bundle folder written by edge-export")
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--top-k", type=int, default=5, help="labels per image (default 5)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="images per inference call (default 8; with --tta each brings its views)")
    add_json_argument(parser, "every image's result")
    add_runner_arguments(parser)
    add_tta_argument(parser)
    return parser


def expand_images(paths):
    """Files as given, folders walked in sorted order; missing paths are a user error."""
    from edge.image_folders import image_files

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


def predict_files(classifier, paths, batch_size):
    """Yield (path, top-k list or None when unreadable) in input order."""
    from edge.preprocess import read_image

    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = [read_image(path) for path in chunk]
        readable = [image for image in images if image is not None]
        results = iter(classifier.classify(readable)[0] if readable else [])
        for path, image in zip(chunk, images):
            yield path, (next(results) if image is not None else None)


class Score(object):
    """Top-1 accuracy on images that sit in a folder named after one of the classes."""

    def __init__(self, classes, tta="none"):
        self.classes = set(classes)
        self.tta = tta
        self.correct = 0
        self.total = 0

    def add(self, path, top):
        truth = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if truth not in self.classes:
            return None
        self.total += 1
        self.correct += int(top[0]["label"] == truth)
        return truth

    def trained(self, bundle):
        """{"accuracy", "images"} training measured on its validation set, or {}."""
        return ((bundle.manifest["model"].get("source") or {}).get("metrics") or {}).get("val") or {}

    def summary(self, bundle):
        text = "top-1 accuracy {:.2%}{} ({} of {} images in class-named folders)".format(
            self.correct / float(self.total), "" if self.tta == "none" else " with --tta " + self.tta, self.correct,
            self.total)
        trained = self.trained(bundle)
        if trained.get("accuracy") is not None:
            text += "; training measured {:.2%} on {} validation images".format(
                trained["accuracy"], trained.get("images", "its"))
        return text

    def fields(self, bundle):
        return {"correct": self.correct, "images": self.total, "accuracy": self.correct / float(self.total),
                "training_val": self.trained(bundle) or None}


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.option_ranges import check_args
    from edge.runner_args import RUNNER_NUMBERS
    check_args(args, ("top_k", "batch_size") + RUNNER_NUMBERS)
    from edge.bundle import Bundle
    from edge.classifier import Classifier
    from edge.runners.select import make_runner
    from edge.tta import DihedralViews

    log = progress_log("edge-predict")
    table = not json_to_stdout(args)
    bundle = Bundle.load(args.bundle)
    views = DihedralViews.for_bundle(bundle, args.tta)
    paths = expand_images(args.images)
    runner, why = make_runner(bundle, args.runtime or "auto", args.precision or "auto", threads=args.threads,
                              checkpoint=args.checkpoint, build_engine=bool(args.build_engine), log=log)
    rows, unreadable = [], []
    score = Score(bundle.classes, args.tta)
    with runner:
        log("runtime: {} ({})".format(runner.describe(), why))
        if views.count > 1:
            log(views.describe(runner.batch_limit()))
        classifier = Classifier(bundle, runner, k=args.top_k, views=views)
        width = max(len(path) for path in paths)
        for path, top in predict_files(classifier, paths, args.batch_size):
            if top is None:
                unreadable.append(path)
                log("skipped {}: cannot be decoded as an image".format(path))
                continue
            row = dict(result_fields(top), file=path)
            truth = score.add(path, top)
            if truth is not None:
                row["truth"] = truth
            rows.append(row)
            if table:
                print("{:<{w}}  {}".format(path, "  ".join(
                    "{} {:.3f}".format(item["label"], item["confidence"]) for item in top), w=width))
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
