"""Data-parallel edge-train under torchrun: 2 processes with Gloo on this CPU, against one process."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from edge.errors import EdgeError
from tests.helpers import ROOT, make_shapes_folder, tta_accuracy_by_hand
from train import config as train_config
from train.checkpoint import load_checkpoint
from train.distributed import Processes, resolve_sync_bn
from train.loaders import GlobalBatchSampler

# 40 images -> 32 training (2 global batches of 16: 8 images a process) and 8 validation. A small lr
# keeps the loss curve smooth. With 4 images a process BatchNorm's batch statistics alone moved
# the train loss by up to 0.24 from one process's (README: SyncBatchNorm); with 8, by up to 0.07.
TINY = ["--size", "32", "--batch-size", "16", "--workers", "0", "--epochs", "3", "--lr", "1e-3",
        "--keep-epochs", "2"]
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def environment():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)


def run_python(args, timeout=300):
    """A command in a fresh interpreter, one thread each, as a user would run it."""
    return subprocess.run(list(args), cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)


def history(run):
    with open(os.path.join(run, "history.csv")) as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("shapes") / "data", per_class=20)


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """The same run trained by one process and by two (and its best model evaluated with --tta d4)."""
    root = tmp_path_factory.mktemp("runs")
    single, double = str(root / "single"), str(root / "double")
    alone = run_python([sys.executable, "-m", "train", data, "--out", single, "--tta", "d4"] + TINY)
    assert alone.returncode == 0, alone.stderr[-3000:]
    done = run_python(LAUNCH + ["-m", "train", data, "--out", double, "--tta", "d4"] + TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": str(root), "single": single, "double": double, "done": done}


# ----- fast: the pieces ------------------------------------------------------------------------
@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("start", [0, 8, 16])
def test_ranks_split_exactly_the_single_process_batches(world_size, start):
    def batches(rank, world):
        sampler = GlobalBatchSampler(22, seed=5, batch_size=8, rank=rank, world_size=world)
        sampler.set_epoch(1, start=start)
        return list(sampler)

    single = batches(0, 1)
    shares = [batches(rank, world_size) for rank in range(world_size)]
    assert all(len(share) == len(single) for share in shares)
    for step, whole in enumerate(single):
        assert [item for share in shares for item in share[step]] == whole
        assert max(len(s[step]) for s in shares) - min(len(s[step]) for s in shares) <= 1


def test_a_batch_smaller_than_the_world_leaves_empty_slices():
    slices = [list(GlobalBatchSampler(5, seed=0, batch_size=4, rank=rank, world_size=3)) for rank in range(3)]
    assert [len(batch) for batch in slices[0]] == [1, 0] and [len(s[1]) for s in slices] == [0, 0, 1]


def test_sync_batchnorm_choice():
    single = Processes(device=torch.device("cpu"))
    cpu = Processes(rank=0, world_size=2, backend="gloo", device=torch.device("cpu"))
    gpu = Processes(rank=0, world_size=2, backend="nccl", device=torch.device("cuda", 0))
    assert resolve_sync_bn("on", 4, single)[0] is False
    assert resolve_sync_bn("auto", 4, cpu)[0] is False and resolve_sync_bn("off", 4, gpu)[0] is False
    assert resolve_sync_bn("auto", 8, gpu)[0] is True and resolve_sync_bn("auto", 32, gpu)[0] is False
    with pytest.raises(EdgeError, match="needs CUDA"):
        resolve_sync_bn("on", 4, cpu)
    with pytest.raises(EdgeError, match="auto, on or off"):
        resolve_sync_bn("maybe", 4, cpu)


def test_python_dash_m_train_is_edge_train():
    done = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: edge-train")


# ----- slow: real runs ---------------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_write_one_set_of_outputs(runs):
    assert sorted(os.listdir(runs["root"])) == ["double", "single"]  # no second, numbered run folder
    assert sorted(os.listdir(runs["double"])) == sorted(os.listdir(runs["single"]))
    assert sorted(os.listdir(os.path.join(runs["double"], "checkpoints"))) == ["epoch-002.pt", "epoch-003.pt"]
    out = runs["done"].stdout + runs["done"].stderr
    assert out.count("best validation accuracy") == 1 and out.count("epoch   3/3") == 1  # rank 0 alone prints
    assert "data parallel: 2 processes (gloo), global batch 16 = 8 images per process" in out
    metrics = json.load(open(os.path.join(runs["double"], "metrics.json")))
    assert metrics["training"] == {"world_size": 2, "backend": "gloo", "global_batch": 16,
                                   "batch_per_process": 8, "sync_bn": False}
    config_file = os.path.join(runs["double"], "config.yaml")
    assert open(config_file).readline() == "# trained by 2 process(es) (gloo), global batch 16\n"
    assert train_config.resolve({}, config_file)["batch_size"] == 16  # still a valid --config


@pytest.mark.slow
def test_validation_metrics_cover_the_whole_validation_set(runs):
    single, double = (json.load(open(os.path.join(runs[name], "metrics.json"))) for name in ("single", "double"))
    assert double["dataset"]["val_images"] == single["dataset"]["val_images"] == 8
    assert sum(map(sum, double["confusion_matrix"])) == 8
    assert sum(row["support"] for row in double["per_class"].values()) == 8


@pytest.mark.slow
def test_tta_covers_the_whole_validation_set_with_the_best_model(runs, data):
    """Every rank evaluates its share of the views with rank 0's model.pt; the gathered figure is that model's."""
    out = runs["done"].stdout + runs["done"].stderr
    assert out.count("evaluating the best model") == 1 and out.count("with --tta d4 (8 views)") == 1
    for name in ("single", "double"):
        metrics = json.load(open(os.path.join(runs[name], "metrics.json")))
        accuracy, images = tta_accuracy_by_hand(os.path.join(runs[name], "model.pt"), data)
        assert metrics["tta"]["images"] == images == 8
        assert metrics["tta"]["accuracy"] == pytest.approx(accuracy)


@pytest.mark.slow
def test_the_model_file_is_a_single_process_one_and_exports(runs, tmp_path):
    from export.pipeline import export_bundle

    single, double = (load_checkpoint(os.path.join(runs[name], "model.pt"), kinds=("model",))
                      for name in ("single", "double"))
    assert list(double["state_dict"]) == list(single["state_dict"])
    assert not any(key.startswith("module.") for key in double["state_dict"])
    manifest = export_bundle(os.path.join(runs["double"], "model.pt"), str(tmp_path / "bundle"), log=lambda *a: None)
    assert manifest["model"]["classes"] == ["dark", "light"]
    assert os.path.isfile(str(tmp_path / "bundle" / "manifest.json"))


@pytest.mark.slow
def test_the_loss_history_is_close_to_the_single_process_one(runs):
    # Same seed, same global batch: the same images in the same steps, the same averaged gradient.
    # What differs is BatchNorm's batch statistics (8 images a process instead of 16): measured
    # differences up to 0.07 in train loss per epoch; 0.15 allows any CPU's rounding on top.
    single, double = history(runs["single"]), history(runs["double"])
    assert len(single) == len(double) == 3
    for one, two in zip(single, double):
        assert abs(float(one["train_loss"]) - float(two["train_loss"])) < 0.15, (one, two)
        assert float(one["lr"]) == pytest.approx(float(two["lr"]))  # the same schedule, step for step


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def train_command(processes):
    return (LAUNCH if processes == 2 else [sys.executable]) + ["-m", "train"]


def described(processes):
    return {"world_size": 2, "backend": "gloo"} if processes == 2 else {"world_size": 1, "backend": None}


@pytest.mark.slow
@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)])
def test_ctrl_c_stops_every_process_and_the_run_resumes_with_another_count(data, tmp_path, first, then):
    run = str(tmp_path / "run")
    # 4 epochs: the interrupt lands after the first checkpoint, and a fast machine cannot finish first.
    # Ctrl-C as a terminal delivers it. A suite started in the background (nohup, `cmd &`) ignores
    # SIGINT and its children inherit that; this passed only after a test that set a SIGINT handler.
    launcher = subprocess.Popen(train_command(first) + [data, "--out", run] + TINY + ["--epochs", "4"], cwd=ROOT,
                                env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, start_new_session=True, preexec_fn=default_sigint)
    last = os.path.join(run, "last.pt")
    deadline = time.time() + 240
    while not os.path.exists(last) and launcher.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: every process gets it
    try:
        output, _ = launcher.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        raise AssertionError("a process did not stop after Ctrl-C")
    assert launcher.returncode != 0, output[-2000:]
    state = load_checkpoint(last, kinds=("train-state",))
    assert state["processes"] == described(first) and 1 <= state["epoch"] < 4
    assert not [name for name in os.listdir(run) if name.endswith(".tmp")]

    resumed = run_python(train_command(then) + ["--resume", last])  # the rest, with the other count
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [row["epoch"] for row in history(run)] == ["1", "2", "3", "4"]
    assert load_checkpoint(last, kinds=("train-state",))["processes"] == described(then)
    assert yaml.safe_load(open(os.path.join(run, "config.yaml")))["batch_size"] == 16


FAILING_RANK = """
import sys
import torch.distributed as dist
from train import cli
from train.loaders import FolderDataset

original, calls = FolderDataset.__getitem__, []

def failing(self, item):
    if self.augment_config is not None:   # training images: 8 a batch on rank 1
        calls.append(item)
        if dist.get_rank() == 1 and len(calls) == 8 + 1:   # the second batch
            raise OSError("disk gone")
    return original(self, item)

FolderDataset.__getitem__ = failing
raise SystemExit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_failing_rank_stops_the_others_and_the_state_stays_valid(data, tmp_path):
    script = tmp_path / "failing_rank.py"
    script.write_text(FAILING_RANK)
    run = str(tmp_path / "run")
    started = time.time()
    done = run_python(LAUNCH + [str(script), data, "--out", run] + TINY, timeout=240)
    assert done.returncode != 0 and "disk gone" in done.stderr, done.stderr[-2000:]
    assert "resumable state saved" in done.stderr
    assert time.time() - started < 200  # nobody waited for the process-group timeout
    state = load_checkpoint(os.path.join(run, "last.pt"), kinds=("train-state",))
    # Rank 0 saved the position it had reached, a whole number of global batches into epoch 1.
    assert state["epoch"] == 0 and state["position"] in (0, 16)
