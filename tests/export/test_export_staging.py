"""Interrupted exports: a SIGKILL at any step of the swap loses nothing, and the next export tidies up.

The kills are real: a child process writes a bundle through StagedBundle and SIGKILLs itself at the
k-th file-system call of `commit()` (so no `finally` runs), for every k until the commit completes.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from edge.bundle.bundle import read_manifest
from edge.errors import EdgeError
from tests.bundle_fixtures import snapshot
from tests.helpers import ROOT

NAME = "bundle"

# Writes a small bundle into staging, then commits with a SIGKILL at file-system call number K
# (0: no kill). With K < 0 it kills itself while still writing (the staging folder half full).
CHILD = textwrap.dedent("""
    import os, shutil, signal, sys
    from export.bundle_writer import StagedBundle
    from tests.export.test_export_staging import write_bundle_files

    target, kill_at, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with StagedBundle(target, log=lambda line: print(line, flush=True)) as stage:
        write_bundle_files(stage.path, tag)
        if kill_at < 0:
            print("staging " + stage.path, flush=True)
            if kill_at == -2:
                sys.stdin.readline()  # a live export: wait until the test says go
            os.kill(os.getpid(), signal.SIGKILL)
        calls = [0]

        def counted(function):
            def call(*args, **kwargs):
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return function(*args, **kwargs)
            return call

        for module, name in ((os, "rename"), (os, "replace"), (os, "mkdir"), (os, "unlink"), (os, "remove"),
                             (os, "rmdir"), (shutil, "rmtree")):
            setattr(module, name, counted(getattr(module, name)))
        stage.commit()
    print("committed after {} calls".format(calls[0]), flush=True)
""")


def write_bundle_files(folder, tag, megabytes=0.5):
    """A minimal valid bundle whose files all say `tag`."""
    manifest = {"schema": "edge-toolkit/bundle", "schema_version": 1, "model": {"tag": tag}, "input": {},
                "output": {}, "artifacts": []}
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle)
    with open(os.path.join(folder, "model.onnx"), "wb") as handle:
        handle.write(tag.encode() * int(megabytes * 2 ** 20 / len(tag)))
    os.mkdir(os.path.join(folder, "engines"))
    with open(os.path.join(folder, "engines", "note.txt"), "w") as handle:
        handle.write(tag)


def leftovers(parent):
    return sorted(name for name in os.listdir(parent) if ".staging-" in name or ".old-" in name)


def child(target, kill_at, tag, wait=False):
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(target), str(kill_at), tag], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
    if wait:
        return process
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def make_previous(tmp_path):
    target = tmp_path / NAME
    os.mkdir(str(target))
    write_bundle_files(str(target), "previous")
    return str(target), snapshot(str(target))


def export_next(target, tag="next"):
    """The next export, in-process: returns the lines it logged and the state just before its swap."""
    from export.bundle_writer import StagedBundle

    lines = []
    with StagedBundle(target, log=lines.append) as stage:
        seen = {"target": snapshot(target) if os.path.isdir(target) else None,
                "leftovers": [n for n in leftovers(os.path.dirname(target)) if n != os.path.basename(stage.path)]}
        write_bundle_files(stage.path, tag)
        stage.commit()
    return lines, seen


def test_a_kill_at_every_step_of_the_swap_loses_nothing_and_the_next_export_recovers(tmp_path):
    outcomes = []
    new = _tagged("new", tmp_path)
    for kill_at in range(1, 60):
        case = tmp_path / "k{}".format(kill_at)
        os.mkdir(str(case))
        target, previous = make_previous(case)
        code, out, err = child(target, kill_at, "new")
        if code == 0:  # the commit needed fewer calls than kill_at: every step has been covered
            assert "committed" in out, err
            break
        assert code == -signal.SIGKILL, err
        # Before anyone tidies up: the bundle is there (old or new), or read_manifest points at it.
        if not os.path.isdir(target):
            with pytest.raises(EdgeError) as missing:
                read_manifest(target)
            text = str(missing.value)
            assert ".{}.old-".format(NAME) in text and "interrupted" in text and "edge-export" in text, text
            outcomes.append("missing")
        else:
            outcomes.append("present")
        lines, seen = export_next(target)
        # The next export found the previous bundle whole (or the new one, when the swap had finished),
        # with nothing left beside it, before writing its own.
        assert seen["target"] in (previous, new), (kill_at, sorted(seen["target"] or {}), lines)
        assert seen["leftovers"] == [], (kill_at, seen, lines)
        assert leftovers(str(case)) == [] and snapshot(target) == _tagged("next", tmp_path)
    else:
        pytest.fail("the commit never completed")
    assert "missing" in outcomes, outcomes  # the kill between the two renames was among them
    assert len(outcomes) >= 3, outcomes


def _tagged(tag, tmp_path):
    folder = tmp_path / ("files-" + tag)
    if not folder.exists():
        os.mkdir(str(folder))
        write_bundle_files(str(folder), tag)
    return snapshot(str(folder))


def test_the_restore_is_said_in_one_line(tmp_path):
    target, previous = make_previous(tmp_path)
    for kill_at in range(1, 60):
        child(target, kill_at, "new")
        if not os.path.isdir(target):
            break
        shutil_rmtree_all(tmp_path)
        target, previous = make_previous(tmp_path)
    assert not os.path.isdir(target)
    from export.bundle_writer import recover

    lines = []
    recover(target, log=lines.append)
    assert snapshot(target) == previous and leftovers(str(tmp_path)) == []
    restored = [line for line in lines if "restored" in line]
    assert len(restored) == 1 and "restored the previous bundle from .bundle.old-" in restored[0], lines
    assert "an export was interrupted" in restored[0], lines


def shutil_rmtree_all(folder):
    import shutil

    for name in os.listdir(str(folder)):
        shutil.rmtree(os.path.join(str(folder), name))


def _started(target, tag):
    """A child export paused while writing its staging folder: (process, staging path)."""
    process = child(target, -2, tag, wait=True)
    for line in process.stdout:
        if line.startswith("staging "):
            return process, line.split(" ", 1)[1].strip()
    raise AssertionError(process.stderr.read())


def test_stale_staging_folders_are_removed_and_counted_in_one_line(tmp_path):
    target, previous = make_previous(tmp_path)
    # An export that is still running: never touched.
    live, live_path = _started(target, "live")
    try:
        # Three exports killed while writing (side by side, so none tidied up another's folder).
        killed = [_started(target, "killed-{}".format(index))[0] for index in range(3)]
        for process in killed:
            process.kill()
            process.communicate(timeout=30)
        assert len(leftovers(str(tmp_path))) == 4
        # One from before owner files existed, an hour old.
        legacy = tmp_path / ".bundle.staging-0badc0de"
        os.mkdir(str(legacy))
        write_bundle_files(str(legacy), "legacy")
        hour_ago = time.time() - 3600
        os.utime(str(legacy), (hour_ago, hour_ago))
        lines, seen = export_next(target)
        assert os.path.isdir(live_path) and leftovers(str(tmp_path)) == [os.path.basename(live_path)]
    finally:
        live.stdin.write("go\n")  # it SIGKILLs itself now, leaving its staging folder behind
        live.communicate(timeout=30)
    assert seen["target"] == previous
    removed = [line for line in lines if "stale staging" in line]
    assert len(removed) == 1, lines
    assert removed[0].startswith("removed 4 stale staging folders (") and \
        removed[0].endswith(" MB) left by interrupted exports"), removed
    # The live export has died since: the next export removes its folder too.
    lines, _ = export_next(target, "third")
    assert leftovers(str(tmp_path)) == [] and any("removed 1 stale staging folder (" in line for line in lines)


def test_a_folder_of_a_live_process_is_not_stale_but_a_reused_pid_is(tmp_path):
    from edge.util import staging

    folder = tmp_path / ".bundle.staging-00000001"
    os.mkdir(str(folder))
    staging.write_owner(str(folder))
    assert not staging.is_stale(str(folder))
    record = json.loads((folder / staging.OWNER).read_text())
    record["started"] = "not this process's start"
    (folder / staging.OWNER).write_text(json.dumps(record))
    assert staging.is_stale(str(folder))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = dict(record, pid=dead.pid, started=None)
    (folder / staging.OWNER).write_text(json.dumps(record))
    assert staging.is_stale(str(folder))


def test_read_manifest_points_at_the_moved_aside_bundle(tmp_path):
    parent = tmp_path / "deploy"
    old = parent / ".bundle.old-1234abcd" / "bundle"
    os.makedirs(str(old))
    write_bundle_files(str(old), "previous")
    with pytest.raises(EdgeError) as missing:
        read_manifest(str(parent / "bundle"))
    text = str(missing.value)
    assert "\n" not in text
    assert "the previous bundle is in {}".format(old) in text, text
    assert "an export was interrupted; re-run edge-export, or rename it back" in text, text


def test_edge_commands_point_at_it_and_edge_export_recovers(export_run, export_checkpoint, export_bundle_copy,
                                                            tmp_path, capsys):
    from edge.predict import main as predict

    before = snapshot(export_bundle_copy)
    for kill_at in range(1, 60):  # kill earlier and earlier steps until the target is gone
        child(export_bundle_copy, kill_at, "new")
        if not os.path.isdir(export_bundle_copy):
            break
        assert snapshot(export_bundle_copy) == before, kill_at
    assert not os.path.isdir(export_bundle_copy)
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    assert predict([export_bundle_copy, str(image)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".bundle.old-" in err and "re-run edge-export" in err, err

    code, out, err = export_run([export_checkpoint, "-o", export_bundle_copy, "--verify-count", "2"])
    assert code == 0, err
    assert "restored the previous bundle" in err and "removed 1 stale staging folder" in err, err
    assert leftovers(os.path.dirname(export_bundle_copy)) == []
    assert read_manifest(export_bundle_copy)["producer"]["tool"] == "edge-export"


def test_sigterm_mid_export_removes_the_staging_folder_and_exits_143(export_checkpoint, export_bundle_copy):
    """systemd, a CI runner's timeout or `kill` stop an export with SIGTERM: cleaned up as Ctrl-C is."""
    before = snapshot(export_bundle_copy)
    parent = os.path.dirname(export_bundle_copy)
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, "-m", "export.cli", export_checkpoint, "-o", export_bundle_copy,
                                "--verify-count", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True)
    try:
        deadline = time.time() + 120
        while not _staged_files(parent) and process.poll() is None:
            assert time.time() < deadline, "the export never started writing its staging folder"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # mid-export: the staging folder is being written
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    lines = err.splitlines()
    assert lines[-1] == "edge-export: terminated" and "Traceback" not in err, err
    assert sum("terminated" in line for line in lines) == 1 and out == "", (out, err)
    # No staging folder left, and the previous bundle exactly as it was (no half bundle).
    assert leftovers(parent) == [] and snapshot(export_bundle_copy) == before


def _staged_files(parent):
    """The files an export has begun to write into its staging folder (its owner file aside)."""
    from edge.util.staging import OWNER

    found = []
    for name in leftovers(parent):
        try:
            found += [entry for entry in os.listdir(os.path.join(parent, name)) if OWNER not in entry]
        except OSError:
            pass
    return found


def test_an_output_folder_that_cannot_be_made_is_one_line(export_checkpoint, export_run, tmp_path):
    (tmp_path / "a-file").write_text("x")
    target = str(tmp_path / "a-file" / "bundle")
    code, out, err = export_run([export_checkpoint, "-o", target, "--verify-count", "2"])
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.splitlines()[-1] == "edge-export: error: cannot write the bundle {} ({} is a file, not a folder)".format(
        target, os.path.dirname(target))
