"""Mutation testing of the modules that decide what a user trusts: `make mutation`.

    .venv/bin/python -m tests.mutation [--root DIR] [--work DIR] [--max-children N] [MODULE ...]

Each module is mutated by mutmut 3 (flipped comparisons and operators, changed numbers and strings,
negated conditions and dropped `not`, True/False and and/or swapped, assignments set to None,
call arguments removed), and each mutant runs against that module's own test files only (MODULES
below), never the whole suite. Each module runs in its own scratch copy of the tree (--work,
default .cache/mutation/NAME), so the checkout itself is never rewritten. --root measures another
tree (a frozen `git worktree`): test files it lacks are left out, and the line says so.

It prints one line per module with its kill rate: killed / counted mutants. A mutant that no
selected test reaches counts as a survivor; one that runs past its time limit as killed (the tests
noticed); one that only changes the letter case of an SQL statement is equivalent (SQLite cannot
tell) and is not counted. The tests that export a model with torch are left out (TORCH_FIXTURES).
Survivors and their diffs go to WORK/NAME/survivors.txt.
Not part of `make test`: about 13 minutes on 2 busy cores (README).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

# module -> (the file mutated, its own test files)
MODULES = {
    "outbox": ("edge/sinks/outbox.py", [
        "tests/edge/test_mqtt_outbox.py",
        "tests/edge/test_outbox_mutants.py",
    ]),
    "select": ("edge/runners/select.py", [
        "tests/edge/test_runners.py",
        "tests/edge/test_onnxruntime_fallback.py",
        "tests/edge/test_select_mutants.py",
        "tests/edge/test_stand_in_runtime.py",
    ]),
    "bundle": ("edge/bundle/bundle.py", [
        "tests/edge/test_edge_bundle.py",
        "tests/edge/test_bundle_mutants.py",
    ]),
    "golden": ("edge/bundle/golden.py", [
        "tests/export/test_export_golden.py",
        "tests/edge/test_golden_mutants.py",
    ]),
    "bundle_checks": ("edge/doctor/bundle_checks.py", [
        "tests/edge/test_doctor.py",
        "tests/edge/test_doctor_mutants.py",
    ]),
    "matching": ("edge/tensorrt/matching.py", [
        "tests/edge/tensorrt_tests/test_engines.py",
        "tests/edge/tensorrt_tests/test_compat.py",
        "tests/edge/test_matching_mutants.py",
    ]),
}

# Session fixtures that train and export a model with torch (tests/bundle_fixtures.py): every mutant's
# pytest session would make them again, tens of CPU seconds each, so the tests that need them are left
# out of a mutation run (pytest_collection_modifyitems below); they still run in `make test`.
TORCH_FIXTURES = {"export_model", "export_checkpoint", "export_fp32_bundle", "export_int8_bundle",
                  "export_fused_int8_bundle", "export_bundle_copy", "regression_checkpoint", "regression_bundle"}
# What the tests import besides edge/ (the golden set's tests export with export/ and train/).
COPIED = ("edge", "export", "train", "tests", "pyproject.toml")
KILLED = {"killed", "timeout", "segfault"}


def _status(code):
    from mutmut.stats import status_by_exit_code
    return status_by_exit_code[code]


def scratch_tree(root, work, target, tests):
    """A copy of the tree with a setup.cfg that points mutmut at one module and its tests."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants")
    for name in COPIED:
        source = os.path.join(root, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(work, name), ignore=ignore)
        elif os.path.exists(source):
            shutil.copy2(source, os.path.join(work, name))
    # this file is the plugin that leaves out the torch tests (a frozen tree may predate it)
    shutil.copy2(os.path.abspath(__file__), os.path.join(work, "tests", "mutation.py"))
    # pyproject.toml's [tool.mutmut] would win over setup.cfg: this copy must carry none.
    with open(os.path.join(work, "pyproject.toml")) as handle:
        text = handle.read()
    if "[tool.mutmut]" in text:
        sys.exit("tests/mutation.py: pyproject.toml has a [tool.mutmut] table; the settings live here")
    lines = [
        "[mutmut]",
        "source_paths = edge/",
        "only_mutate = " + target,
        "also_copy =\n    export/\n    train/",
        "pytest_add_cli_args_test_selection =\n" + "\n".join("    " + t for t in tests),
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -p\n    tests.mutation\n    -q",
        "use_git_change_detection = false",
        # ONNX Runtime's thread pools do not survive a fork from a process that ran sessions: each
        # mutant forks from a server that has only collected the tests.
        "process_isolation = forkserver",
        "",
    ]
    with open(os.path.join(work, "setup.cfg"), "w") as handle:
        handle.write("\n".join(lines))


def score(work, target):
    """(killed, total, survivors, statuses) from mutmut's record of one file."""
    with open(os.path.join(work, "mutants", target + ".meta")) as handle:
        codes = json.load(handle)["exit_code_by_key"]
    statuses = {name: "no tests" if code is None else _status(code) for name, code in codes.items()}
    survivors = sorted(name for name, status in statuses.items() if status not in KILLED)
    return len(codes) - len(survivors), len(codes), survivors, statuses


def diffs_of(work, names):
    """{mutant: its diff}, from one process (a `mutmut show` per mutant takes seconds each)."""
    script = ("import json, sys\n"
              "from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant\n"
              "print(json.dumps(dict((name, get_diff_for_mutant(name, path=find_mutant(name).path))\n"
              "                      for name in json.load(sys.stdin))))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=work, input=json.dumps(names), check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return json.loads(out)


def sql_case_only(diff):
    """True for a mutant that only changes the letter case of an SQL statement: SQLite reads keywords,
    names and pragma values without regard to case, so no test can tell it apart (equivalent)."""
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return (len(removed) == len(added) == 1 and removed[0] != added[0] and removed[0].lower() == added[0].lower()
            and re.search(r"(?i)[\"'](SELECT|INSERT|DELETE|PRAGMA|BEGIN|COMMIT|ROLLBACK|CREATE|UPDATE|WHERE)\b",
                          removed[0]) is not None)


def write_survivors(work, survivors, statuses, diffs, equivalent):
    with open(os.path.join(work, "survivors.txt"), "w") as out:
        for name in survivors:
            out.write("{}: {}\n".format(name, "equivalent (SQL letter case)" if name in equivalent
                                         else statuses[name]))
        for name in survivors:
            out.write("\n## {}\n{}".format(name, diffs.get(name, "")))


def run_module(name, root, work_root, max_children, mutmut):
    target, tests = MODULES[name]
    present = [t for t in tests if os.path.exists(os.path.join(root, t))]
    missing = [t for t in tests if t not in present]
    work = os.path.abspath(os.path.join(work_root, name))
    scratch_tree(root, work, target, present)
    start = time.time()
    with open(os.path.join(work, "mutmut.log"), "w") as log:
        code = subprocess.call([mutmut, "run", "--max-children", str(max_children)], cwd=work,
                               stdout=log, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    with open(os.path.join(work, "mutmut.log"), encoding="utf-8", errors="replace") as log:
        text = log.read()
    # no selected test reaches the module, or none is left once the torch tests are out: every mutant survives
    uncovered = ("could not find any test case for any mutant" in text or
                 "failed to collect stats. runner returned 5" in text)
    if (code != 0 and not uncovered) or not os.path.exists(os.path.join(work, "mutants", target + ".meta")):
        print("{:<14} {:<32} mutmut failed (exit {}): see {}/mutmut.log".format(name, target, code, work))
        return None
    killed, total, survivors, statuses = score(work, target)
    diffs = diffs_of(work, survivors)
    equivalent = set(name for name in survivors if sql_case_only(diffs.get(name, "")))
    counted = total - len(equivalent)
    rate = 100.0 * killed / counted if counted else 100.0
    write_survivors(work, survivors, statuses, diffs, equivalent)
    print("{:<14} {:<32} {:5.1f}%  {:>3}/{:<3} killed  {:>3} equivalent  {:>4.0f} s{}".format(
        name, target, rate, killed, counted, len(equivalent), seconds,
        "  (no {})".format(", ".join(missing)) if missing else ""), flush=True)
    return rate


def pytest_collection_modifyitems(config, items):
    """A pytest plugin while mutmut runs (-p tests.mutation): leave out the tests that export with torch."""
    slow = [item for item in items if TORCH_FIXTURES.intersection(getattr(item, "fixturenames", ()))]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="which modules (default all): " + ", ".join(MODULES))
    parser.add_argument("--root", default=".", help="the tree to measure (default: this checkout)")
    parser.add_argument("--work", default=".cache/mutation", help="scratch folder (default %(default)s)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.modules if name not in MODULES]
    if unknown:
        parser.error("unknown module {}; choose from {}".format(", ".join(unknown), ", ".join(MODULES)))
    mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
    root = os.path.abspath(args.root)
    print("{:<14} {:<32} {:>6}  {}".format("module", "file", "kill", "killed/counted, equivalent left out, time"))
    failed = False
    for name in args.modules or list(MODULES):
        failed |= run_module(name, root, args.work, args.max_children, mutmut) is None
    print("survivors and their diffs: {}/MODULE/survivors.txt".format(args.work))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
