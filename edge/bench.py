"""edge-bench: which runtime and precision to ship on this device, and what it costs in accuracy.

Runs every runtime and precision available here (PyTorch eager, ONNX Runtime fp32 and INT8,
TensorRT fp32/fp16/int8) on identical inputs. Per row: latency percentiles at batch 1,
throughput at the batch sizes asked, the deployed path's stage breakdown, model size, memory,
and with --data top-1/top-5 accuracy and top-1 agreement with the reference (PyTorch, else
ONNX Runtime fp32); for a regression bundle the MAE and RMSE in pixels of the --data images and
the mean distance of its points from the reference's. With --tta hflip|d4 each row also shows the time per image with test-time
augmentation (the image's 2 or 8 views as one batch, averaged) beside the plain batch-1 latency,
and with --data the top-1 accuracy with the views and its change. Rows that cannot run here say
why. Every result records the environment.
With --source it measures the camera pipeline instead: one measurement per runtime and precision
asked. Tables go to stdout, progress to stderr; `--json PATH` writes the result document
(`--json -`: to stdout, instead of the tables). Exit codes: 0 done; 2 usage error, or nothing
could run here.
"""

from edge.cli import (add_json_argument, json_to_stdout, make_parser, progress_log, refuse_given, run_main,
                      write_json_result)
from edge.errors import EXIT_OK, EdgeError
from edge.options.source_args import SOURCE_NUMBERS, add_source_arguments, source_options

# Flags (dest names) that only mean something when measuring the rows, or only with --source.
ROWS_ONLY = ("data", "max_images", "batch", "warmup", "min_time", "min_iters", "csv", "plot", "compare")
SOURCE_ONLY = ("duration",) + SOURCE_NUMBERS + ("codec", "capture_backend")

EPILOG = """examples:
  edge-bench bundle/
  edge-bench bundle/ --data data/val --batch 1,8,32 --json bench.json --plot bench.png
  edge-bench bundle/ --compare old.json             # what changed since an earlier run
  edge-bench bundle/ --data data/val --tta d4       # what 8 views an image cost, and change in accuracy
  edge-bench bundle/ --source demo.mp4 --duration 10 --runtimes onnxruntime,pytorch  # the camera pipeline
"""


def _batch_sizes(text):
    try:
        sizes = sorted(set(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise EdgeError("--batch takes sizes like 1,8,32, got {!r}".format(text))
    if not sizes:
        raise EdgeError("--batch takes sizes like 1,8,32, got {!r}".format(text))
    from edge.options.ranges import check
    return [check("batch_size", size, "--batch") for size in sizes]


def build_parser():
    from edge.options.runner_args import add_runner_arguments, add_tta_argument

    parser = make_parser("edge-bench", __doc__, EPILOG)
    parser.add_argument("bundle", help="bundle folder written by edge-export")
    parser.add_argument("--batch", default="1,8", help="batch sizes for throughput (default 1,8)")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds per measurement (default 0.5)")
    parser.add_argument("--min-time", type=float, default=2.0, help="minimum measuring seconds (default 2)")
    parser.add_argument("--min-iters", type=int, default=20, help="minimum timed iterations (default 20)")
    parser.add_argument("--data", help="labelled image folder for accuracy: DIR/<class>/<images>; a regression "
                                       "bundle's: images with labels.csv or <x>_<y>_<id>.jpg names (MAE in pixels)")
    parser.add_argument("--max-images", type=int, default=1000, help="--data images used at most (default 1000)")
    source = add_source_arguments(parser)   # the camera's own flags: the pipeline as edge-camera runs it
    source.description = "--source: measure the camera pipeline end to end instead of the rows"
    source.add_argument("--duration", type=float, default=10.0, help="--source: seconds to run (default 10)")
    add_json_argument(parser, "the result")
    parser.add_argument("--csv", metavar="PATH", help="write the rows as CSV")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG: latency bars with p90/p99 whiskers, accuracy")
    parser.add_argument("--compare", metavar="OLD_JSON", help="show the change against an earlier --json result")
    add_runner_arguments(parser, rows=True)
    add_tta_argument(parser, also="edge-bench: time per image and top-1 with it, beside without")
    return parser


def add_agreement(rows, task):
    """Every row against the reference row's predictions, as the bundle's task measures it (a classifier's top-1
    agreement, a regression model's mean distance of its points from the reference's, in pixels); returns the
    reference label."""
    ran = {(r["runtime"], r["precision"]): r for r in rows if r["runnable"] and "_predictions" in r}
    # The rows list the reference runtime first (edge.runners.registry.rows_order): its fp32 row, else the next one's.
    reference = next((row for row in ran.values() if row["precision"] == "fp32"), next(iter(ran.values()), None))
    if reference is None:
        return None
    for row in ran.values():
        task.add_agreement(row["accuracy"], row["_predictions"], reference["_predictions"])
    for row in rows:
        row.pop("_predictions", None)
    return "{} {}".format(reference["runtime"], reference["precision"])


def build_engines(bundle, precisions, log):
    """--build-engine: this GPU's missing TensorRT engines, built before measuring; the reloaded bundle."""
    from edge.bundle.bundle import Bundle
    from edge.bundle.schema import PRECISIONS
    from edge.util.lazy import require
    from edge.tensorrt.engines import add_engines

    require("tensorrt", "--build-engine")
    add_engines(bundle.path, list(precisions or PRECISIONS), log=log)
    return Bundle.load(bundle.path)


def bench_rows(bundle, args, batch_sizes, log):
    """Measure every candidate row; the result document."""
    from edge.benchmark import report
    from edge.benchmark.candidates import candidates
    from edge.benchmark.environment import environment
    from edge.benchmark.measure import measure, not_runnable, sample_inputs
    from edge.util.timestamps import utc_timestamp
    from edge.tasks.tta import DihedralViews

    task = bundle.task
    views = DihedralViews.for_bundle(bundle, args.tta)
    problem = task.bench_tta_problem(bundle.path, args.tta) if views.count > 1 else None
    if problem:
        raise EdgeError(problem)

    labelled = task.labelled_data(args.data, bundle, args.max_images) if args.data else None
    encoded = sample_inputs([image for image, _ in labelled[:8]] if labelled else None, bundle.spec)
    log("benchmarking {} ({} rows; batch sizes {}; {} s per measurement)".format(
        bundle.path, ",".join(args.runtimes or ["all"]), args.batch, args.min_time))
    rows = []
    for candidate in candidates(bundle, args.runtimes, checkpoint=args.checkpoint, threads=args.threads, log=log,
                                precisions=args.precisions):
        if candidate.runner is None:
            log("  {:<18} not runnable: {}".format(candidate.label, candidate.reason))
            rows.append(not_runnable(candidate))
            continue
        try:
            rows.append(measure(candidate, bundle, encoded, batch_sizes, args.warmup, args.min_time,
                                args.min_iters, labelled, log=log, views=views))
        except EdgeError as exc:
            log("  {:<18} failed: {}".format(candidate.label, exc))
            candidate.reason = "failed here: {}".format(exc)
            rows.append(not_runnable(candidate))
    reference = add_agreement(rows, task)
    settings = {"batch_sizes": batch_sizes, "warmup_s": args.warmup, "min_time_s": args.min_time,
                "min_iters": args.min_iters, "threads": args.threads, "data": args.data,
                "data_images": len(labelled) if labelled else 0, "tta": args.tta}
    return report.result_document(rows, environment(), bundle, settings, reference, utc_timestamp())


def print_rows(document, batch_sizes, old=None):
    """The tables on stdout: rows, stage breakdown, environment, agreement, change against `old`."""
    from edge.benchmark import report
    from edge.tasks.registry import task_named

    rows = document["rows"]
    task = task_named(document["bundle"]["output"])
    print(report.table(rows, batch_sizes, task))
    print("")
    print("stage breakdown of the deployed path (median ms per frame, batch 1):")
    print(report.stages_table(rows))
    env = document["environment"]
    print("\nenvironment: {} ({} cores){}; {}".format(
        env["cpu"], env["cores"], "; GPU " + env["gpu"]["name"] if env["gpu"] else "; no GPU",
        ", ".join("{} {}".format(k, v) for k, v in sorted(env["libraries"].items()))))
    if document["reference"]:
        print(task.agreement_text(document["reference"], document["settings"]["data_images"]))
    mode = report.tta_mode(rows)
    if mode:
        print("tta: --tta {}: each image's {} views in one batch, probabilities averaged; cost = their p50 over the "
              "plain batch-1 p50; change pts = top-1 with them minus without, in points".format(
                  mode, next(row["tta"]["views"] for row in rows if row.get("tta"))))
    if old is not None:
        print("")
        print(report.compare(old, document))


def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.source:
        refuse_given(parser, args, ROWS_ONLY, "not supported with --source (it measures the camera pipeline)")
    else:
        refuse_given(parser, args, SOURCE_ONLY, "only applies with --source")
    batch_sizes = _batch_sizes(args.batch)
    from edge.options.ranges import check_args
    check_args(args, ("warmup", "min_time", "min_iters", "max_images", "duration", "threads") + SOURCE_NUMBERS)

    from edge.benchmark import report
    from edge.bundle.bundle import Bundle

    log = progress_log("edge-bench")
    table = not json_to_stdout(args)
    bundle = Bundle.load(args.bundle)
    if args.build_engine and (not args.runtimes or "tensorrt" in args.runtimes):
        bundle = build_engines(bundle, args.precisions, log)
    if args.source:
        from edge.benchmark.pipeline import bench_pipeline, measurement_text
        document = bench_pipeline(bundle, args.source, args.duration, args.runtimes, args.precisions, args.threads,
                                  args.checkpoint, log=log, tta=args.tta, capture=source_options(vars(args)))
        if table:
            print("\n\n".join(measurement_text(m, args.source) for m in document["measurements"]))
        if args.json:
            write_json_result(args.json, document)
        return EXIT_OK
    old = report.load_result(args.compare) if args.compare else None   # a bad path fails before measuring
    document = bench_rows(bundle, args, batch_sizes, log)
    if table:
        print_rows(document, batch_sizes, old)
    if args.json:
        write_json_result(args.json, document)
    if args.csv:
        report.write_csv(args.csv, document["rows"])
    if args.plot:
        report.plot(args.plot, document["rows"])   # accuracy panel: top-1, or a regression bundle's MAE
    for path in (args.csv, args.plot):
        if path and table:
            print("wrote {}".format(path))
    if not any(row["runnable"] for row in document["rows"]):
        raise EdgeError("no runtime could run this bundle here (see the reasons above)")
    return EXIT_OK


def main(argv=None):
    return run_main("edge-bench", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
