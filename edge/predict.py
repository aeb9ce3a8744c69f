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

    model: the result model of the bundle's task (edge.tasks.registry.model_for); the fields are its vocabulary
    (edge.tasks.postprocess).
    """
    from edge.bundle.preprocess import read_image

    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = [read_image(path) for path in chunk]
        readable = [image for image in images if image is not None]
        results = iter(model.results(readable)[0] if readable else [])
        for path, image in zip(chunk, images):
            yield path, (next(results) if image is not None else None)


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options.ranges import check_args
    from edge.options.runner_args import RUNNER_NUMBERS
    check_args(args, ("top_k", "batch_size") + RUNNER_NUMBERS)
    from edge.bundle.bundle import Bundle
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
    task = bundle.task
    score = task.score(bundle, args.images, args.tta, log)
    with runner:
        log("runtime: {} ({})".format(runner.describe(), why))
        if views.count > 1:
            log(views.describe(runner.batch_limit()))
        model = task.model(bundle, runner, k=args.top_k, views=views)
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
                print("{:<{w}}  {}".format(path, task.result_text(row), w=width))
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
