"""Swap a running daemon's model without stopping it: SIGHUP (`systemctl reload`) or request_reload(path).

The new bundle is loaded beside the running one on a background thread: Bundle.load (its validation), a runner
made as the daemon's was (the callable it gives: edge.runners.select.make_runner with the same runtime options),
activated, and the bundle's golden check run on this machine against that runner
(edge.doctor.bundle_checks.runner_checks: the manifest against the model files, the golden set, the
preprocessing, the outputs judged by the bundle's task as edge-doctor judges them). Only when every check passes
does the daemon take the new model, between two results (take()); the old runner is deactivated after that.
Otherwise the old model keeps answering and the swap record says why: in the log, in /healthz ("model":
{"name", "id", "swap": {"state", "reason", ...}}) and on /metrics (edge_model_swaps_total{result}).

A bundle is named by its folder's name and an id: 12 hex digits of sha256 over its manifest.json.

Memory: the process's resident memory is measured before, while both models are loaded ("beside") and after.
Where memory is too short for both (mode "stop-then-load", or "auto" with MemAvailable below an estimate of the
new model's needs: LOAD_FACTOR times its largest file, plus LOAD_OVERHEAD_MB), everything that needs no runner
is checked first (the files against the manifest, the golden set, the preprocessing: a bundle failing them is
refused with no gap); then the daemon stops answering, frees the old model, loads and checks the new one. A new
model refused then gives way to the old bundle again, read from the folder it was loaded from (its real path:
deploy bundles into new folders and switch a symlink, as an upload does; a folder overwritten in place has
nothing to go back to, and the daemon stops with the reason, `fatal`). The gap that makes is measured and stated (the record's gap_s: the longest time between two results across the swap,
in either mode).
"""

import hashlib
import os
import threading
import time

from edge.errors import EXIT_SOME_FAILED, EdgeError
from edge.util.timestamps import utc_timestamp

MODES = ("auto", "beside", "stop-then-load")
SWITCH_WAIT_S = 10.0    # longest the swap waits for the daemon to reach the point between two results
PARK_HOLD_S = 600.0     # longest a stop-then-load swap may hold the daemon
LOAD_FACTOR = 3.0
LOAD_OVERHEAD_MB = 64.0


class ModelLost(EdgeError):
    """A stop-then-load swap could not go back to the old model: a runtime failure (exit 1, systemd restarts)."""

    exit_code = EXIT_SOME_FAILED


def bundle_identity(bundle):
    """{"name", "id", "path"}: the bundle folder's name, and 12 hex digits of sha256 over its manifest.json."""
    with open(os.path.join(bundle.path, "manifest.json"), "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:12]
    return {"name": os.path.basename(os.path.normpath(bundle.path)), "id": digest, "path": bundle.path}


def available_mb(meminfo="/proc/meminfo"):
    """MemAvailable in MiB (Linux), or None where it cannot be read."""
    try:
        with open(meminfo) as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except (IOError, OSError, ValueError, IndexError):
        return None
    return None


def model_estimate_mb(bundle):
    """A rough estimate of the memory a runtime takes for `bundle`'s model: LOAD_FACTOR times its largest
    artifact, plus LOAD_OVERHEAD_MB."""
    largest = max([entry.get("bytes") or 0 for entry in bundle.artifacts()] or [0])
    return LOAD_FACTOR * largest / 2.0 ** 20 + LOAD_OVERHEAD_MB


def release_freed_memory():
    """Hand memory freed by a deactivated runner back to the system (gc, then glibc's malloc_trim where there is
    one): a Nano is short of memory, and the RSS measured after a swap should show what the old model held."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: the allocator keeps what it keeps
        pass


def _rss():
    from edge.benchmark.measure import rss_mb
    value = rss_mb()
    return None if value is None else round(value, 1)


class LoadedModel(object):
    """One bundle loaded for a daemon: its active runner, the task's result model over it, the runtime label."""

    def __init__(self, bundle, runner, why, model, label):
        self.bundle, self.runner, self.why, self.model, self.label = bundle, runner, why, model, label
        self.identity = bundle_identity(bundle)
        self.real_path = os.path.realpath(bundle.path)   # where its files are, should a symlink move on

    def describe(self):
        return "{} ({})".format(self.identity["name"], self.identity["id"])


class ModelSwap(object):
    """The running model of a daemon, and the swaps to another bundle.

    current: the LoadedModel running now (runner active). make_runner(bundle) -> (runner not yet active, why);
    make_model(bundle, active runner, why) -> (result model, runtime label). mode: one of MODES.
    switch(new LoadedModel, old LoadedModel): for a service with no loop of results (edge-serve), the swap thread
    switches through it, and deactivates the old runner once it returns (EdgeError: refused). Such a service has
    no point to hold between two results: where memory is too short for both models it refuses the swap.
    """

    def __init__(self, current, make_runner, make_model, log=print, mode="auto", switch=None):
        if mode not in MODES:
            raise EdgeError("unknown swap mode {!r}; choose from {}".format(mode, ", ".join(MODES)))
        self.current = current
        self.start_path = current.bundle.path
        self.make_runner, self.make_model, self.log, self.mode = make_runner, make_model, log, mode
        self.switch = switch
        self.counts = {"switched": 0, "refused": 0}
        self.record = {"state": "idle", "reason": ""}
        self._lock = threading.Lock()
        self._thread = None
        self._done = threading.Event()
        self._done.set()
        self._ready = None          # a checked LoadedModel waiting for take()
        self._taken = threading.Event()
        self._park = None           # (parked, resume) events while a stop-then-load swap holds the daemon
        self._gap_open = False      # the daemon's next result closes the gap across the swap
        self._replaced = None       # the LoadedModel take() replaced, deactivated by the swap thread
        self.fatal = None           # why the daemon has no model left (stop-then-load could not go back)

    # ----- the entry points ---------------------------------------------------------------------------
    def request_reload(self, path=None):
        """Start swapping to the bundle folder `path` (default: the one the daemon started with) on a background
        thread. (accepted, one line): not accepted while another swap is under way."""
        path = str(path or self.start_path)
        release_freed_memory()   # "before" and "after" both measured with the freed heap handed back
        before = _rss()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False, "a model swap is already under way ({})".format(self.record.get("state"))
            self._done.clear()
            self.record = {"state": "loading", "reason": "loading {}".format(path), "to": None, "mode": None,
                           "gap_s": None, "rss_mb": {"before": before}, "started": utc_timestamp(time.time())}
            self._thread = threading.Thread(target=self._run, args=(path,), name="model-swap")
            self._thread.daemon = True
            self._thread.start()
        self.log("model swap: loading {}".format(path))
        return True, "loading {}".format(path)

    def wait(self, timeout=None):
        """Block until the swap under way (if any) ends; status()."""
        self._done.wait(timeout)
        return self.status()

    def status(self):
        """/healthz's "model": the running bundle's name, id, path and runtime, and the last swap's record."""
        with self._lock:
            current, record = self.current, dict(self.record)
        record["rss_mb"] = dict(record.get("rss_mb") or {})
        return dict(current.identity, runtime=current.label, swap=record)

    # ----- the daemon's side, between two results -----------------------------------------------------
    def take(self):
        """Called by the daemon between two results: the LoadedModel to use from now on, or None to go on. Holds
        the daemon while a stop-then-load swap runs."""
        if self._ready is None and self._park is None:
            return None
        park = self._park
        if park is not None:
            park[0].set()
            park[1].wait(PARK_HOLD_S)
            self._gap_open = True
            return self.current
        with self._lock:
            loaded, self._ready = self._ready, None
            if loaded is None:
                return None
            self._replaced, self.current = self.current, loaded
            self._gap_open = True
        self._taken.set()
        return loaded

    def result_published(self, gap_s):
        """The daemon published a result `gap_s` after the one before: the first after a swap states the gap."""
        if not self._gap_open:
            return
        self._gap_open = False
        with self._lock:
            self.record["gap_s"] = round(max(gap_s, self.record.get("gap_s") or 0.0), 3)
        self.log("model swap: {:.3f} s between the last result of the old model and the first of the new".format(
            gap_s))

    # ----- the swap thread ----------------------------------------------------------------------------
    def _run(self, path):
        from edge.bundle.bundle import Bundle
        try:
            bundle = Bundle.load(path)
            self._update(to=bundle_identity(bundle))
            mode, why = self._choose_mode(bundle)
            self._update(mode=mode)
            self.log("model swap: {} ({})".format(mode, why))
            if mode != "beside" and self.switch is not None:
                raise EdgeError("memory is too short to load the new model beside the running one ({}): restart "
                                "the service to change models".format(why))
            if mode == "beside":
                self._swap_beside(bundle)
            else:
                self._stop_then_load(bundle)
        except Exception as exc:   # any failure refuses the new model; the old one goes on
            self._refuse(str(exc) or type(exc).__name__)
        finally:
            self._done.set()

    def _choose_mode(self, bundle):
        if self.mode != "auto":
            return self.mode, "asked for"
        need, free = model_estimate_mb(bundle), available_mb()
        if free is not None and free < need:
            return "stop-then-load", "{:.0f} MiB available, the new model needs about {:.0f} MiB".format(free, need)
        return "beside", "{} MiB available, the new model needs about {:.0f} MiB".format(
            "unknown" if free is None else "{:.0f}".format(free), need)

    def _load_checked(self, bundle):
        """A LoadedModel of `bundle` whose runner passed the golden check here (EdgeError, nothing left active, when
        it did not)."""
        from edge.doctor.bundle_checks import runner_checks
        from edge.doctor.checks import FAIL

        runner, why = self.make_runner(bundle)
        runner.activate()
        try:
            self._update(state="checking", reason="golden check of {}".format(bundle.path))
            failed = [check for check in runner_checks(bundle, runner) if check.status == FAIL]
            if failed:
                raise EdgeError("golden check failed: {}: {}".format(failed[0].name, failed[0].detail))
            model, label = self.make_model(bundle, runner, why)
        except BaseException:
            runner.deactivate()
            raise
        return LoadedModel(bundle, runner, why, model, label)

    def _swap_beside(self, bundle):
        loaded = self._load_checked(bundle)
        self._update(state="switching", reason="waiting for the point between two results", rss_beside=_rss())
        if self.switch is not None:
            return self._switch_now(loaded)
        self._taken.clear()
        with self._lock:
            self._ready = loaded
        if not self._taken.wait(SWITCH_WAIT_S):
            with self._lock:
                unclaimed, self._ready = self._ready, None
            if unclaimed is not None:
                unclaimed.runner.deactivate()
                raise EdgeError("the daemon did not take the new model within {:.0f} s".format(SWITCH_WAIT_S))
        # take() has made `loaded` current: the model it replaced is nobody's now.
        self._replaced.runner.deactivate()
        self._switched(loaded)

    def _switch_now(self, loaded):
        try:
            self.switch(loaded, self.current)
        except BaseException:
            loaded.runner.deactivate()
            raise
        with self._lock:
            self._replaced, self.current = self.current, loaded
        self._replaced.runner.deactivate()
        self._switched(loaded)

    def _stop_then_load(self, bundle):
        from edge.doctor.bundle_checks import runner_checks
        from edge.doctor.checks import FAIL

        failed = [check for check in runner_checks(bundle, None) if check.status == FAIL]
        if failed:   # refused before anything stops
            raise EdgeError("{}: {}".format(failed[0].name, failed[0].detail))
        parked, resume = threading.Event(), threading.Event()
        self._park = (parked, resume)
        try:
            if not parked.wait(SWITCH_WAIT_S):
                raise EdgeError("the daemon did not pause within {:.0f} s".format(SWITCH_WAIT_S))
            old = self.current
            old.runner.deactivate()
            try:
                loaded = self._load_checked(bundle)
            except BaseException:
                self.current = self._reload(old)   # the old bundle again, after the refusal
                raise
            self._update(rss_beside=None)
            self.current = loaded
        finally:
            self._park = None
            resume.set()
        self._switched(loaded)

    def _reload(self, old):
        """The old bundle again, from the folder its files were read from; on failure `fatal` says why."""
        from edge.bundle.bundle import Bundle
        try:
            bundle = Bundle(old.real_path, old.bundle.manifest)
            runner, why = self.make_runner(bundle)
            runner.activate()
            model, label = self.make_model(bundle, runner, why)
        except Exception as exc:
            self.fatal = "the new model was refused and the old one could not be loaded again ({})".format(exc)
            self.log("model swap: " + self.fatal)
            return old
        return LoadedModel(bundle, runner, why, model, label)

    # ----- the record -----------------------------------------------------------------------------------
    def _update(self, state=None, reason=None, to=None, mode=None, rss_beside=False):
        with self._lock:
            for key, value in (("state", state), ("reason", reason), ("to", to), ("mode", mode)):
                if value is not None:
                    self.record[key] = value
            if rss_beside is not False:
                self.record["rss_mb"]["beside"] = rss_beside

    def _switched(self, loaded):
        with self._lock:
            self.counts["switched"] += 1
            before = self.record["rss_mb"].get("before")
        self._finish()   # the record's "after" is there before its state says the swap ended
        self._update(state="switched", reason="now running {} ({})".format(loaded.describe(), loaded.label))
        rss = self.status()["swap"]["rss_mb"]
        self.log("model swap: now running {} ({}); RSS before {} MiB, beside {} MiB, after {} MiB".format(
            loaded.describe(), loaded.label, before, rss.get("beside"), rss.get("after")))

    def _refuse(self, reason):
        with self._lock:
            self.counts["refused"] += 1
        self._finish()
        self._update(state="refused", reason=reason)
        self.log("model swap refused: {}; still running {}".format(reason, self.current.describe()))

    def _finish(self):
        release_freed_memory()
        rss = _rss()
        with self._lock:
            self.record["rss_mb"]["after"] = rss
            self.record["finished"] = utc_timestamp(time.time())
