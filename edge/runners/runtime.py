"""What the registry (edge.runners.registry) holds for one runtime, and what its hooks answer.

A Runtime describes a runtime without importing it: its availability is a lazy import
(edge.util.lazy, which also has its install hint), and its factory imports the runner when called.
Python 3.6 compatible.
"""

import collections

from edge.util import lazy

# Where Triton serves a model this runtime runs: config.pbtxt's platform and backend, and the model's file name.
TritonPlatform = collections.namedtuple("TritonPlatform", "platform backend model_file")


class Options(object):
    """The runner options of the commands (edge.options.runner_args), for a factory to take what it uses.

    spinning=False: CPU threads sleep between calls (a camera-rate loop, not a benchmark).
    frame_rate: the model inputs a second that loop needs; a runtime that sizes its CPU threads to it does so
    when threads is None (edge.runners.onnxruntime.threads)."""

    def __init__(self, threads=None, checkpoint=None, build_engine=False, log=None, spinning=True, frame_rate=None):
        self.threads = threads
        self.checkpoint = checkpoint
        self.build_engine = build_engine
        self.log = log
        self.spinning = spinning
        self.frame_rate = frame_rate


class Verdict(object):
    """--runtime auto's answer for one runtime: `taken` (and why), or passed over (`why`, said when a later runtime is
    taken). A runtime passed over though installed gives `detail` and `remedy`, for the line that refuses when no
    later runtime is installed to fall back to."""

    def __init__(self, taken, why, detail=None, remedy=None):
        self.taken, self.why, self.detail, self.remedy = taken, why, detail, remedy


def never_fix(reason):
    return None


class Runtime(object):
    """One runtime a bundle can run on.

    name          the --runtime word (a runner's name is it, or it and "-detail": "onnxruntime-cpu")
    title         how a message names it ("ONNX Runtime")
    module        what must import for it to run (edge.util.lazy.available; install_hint is lazy's hint)
    precisions    what it runs; refusal: the one line for any other precision asked for by name
    make          make(bundle, precision, Options) -> a not-yet-activated runner
    choose_precision  choose_precision(bundle) -> (precision, why): settles "auto" before make; None: make takes "auto"
    automatic     automatic(bundle, precision, build_engine) -> Verdict, when installed; None: auto never takes it
    install       how "no runtime available: install ..." names it (automatic runtimes)
    missing       a bench or doctor row's reason when `module` is not installed
    unavailable   unavailable(bundle, precision) -> why that row cannot run here though installed, or None
    skip_fix      skip_fix(reason) -> what edge-doctor says to do about a row that cannot run, or None
    artifact      the bundle artifact kind it runs (the Triton repository serves that kind on `triton`)
    triton        TritonPlatform, or None; also edge-serve's KServe platform for the model it runs
    bench_precisions  edge-bench's rows (default: precisions)
    doctor        edge-doctor checks it unless --runtimes leaves it out; False: only when --runtimes names it
    """

    def __init__(self, name, title, module, precisions, make, refusal=None, choose_precision=None, automatic=None,
                 install=None, missing=None, unavailable=None, skip_fix=never_fix, artifact=None, triton=None,
                 bench_precisions=None, doctor=True):
        self.name, self.title, self.module = name, title, module
        self.precisions = tuple(precisions)
        self.make = make
        self.refusal = refusal or "{} runs {} only".format(title, ", ".join(self.precisions))
        self.choose_precision = choose_precision
        self.automatic = automatic
        self.install = install or module
        self.missing = missing or "{}: not installed".format(title)
        self.unavailable = unavailable
        self.skip_fix = skip_fix
        self.artifact = artifact
        self.triton = triton
        self.bench_precisions = tuple(bench_precisions or self.precisions)
        self.doctor = doctor

    def available(self):
        """True when its module imports here."""
        return lazy.available(self.module)

    @property
    def install_hint(self):
        return lazy.INSTALL_HINTS.get(self.module.split(".")[0], "pip install {}".format(self.module))

    def __repr__(self):
        return "Runtime({!r})".format(self.name)
