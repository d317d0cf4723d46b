"""Bad input to the steps: a clear UserError naming the file or parameter and what to do, never a
traceback (the CLI prints UserErrors on one line and exits with status 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganrepro.arrays import load_array
from ganrepro.data.prepared import load_split, read_meta
from ganrepro.device import resolve_device
from ganrepro.errors import UserError
from ganrepro.evaluation.classify import CHANNELS, DROPOUT, HIDDEN, Classifier, classifier_blob, load_classifier
from ganrepro.evaluation.summary import combine_logs
from ganrepro.gan_config import TrainConfig
from ganrepro.io import read_json, save_npz, save_torch
from ganrepro.models.artifacts import load_model

from helpers import tiny_config, tiny_dataset, tiny_model


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "xla"])
def test_an_unknown_device_name_says_which_names_work(name: str) -> None:
    with pytest.raises(UserError, match=f"device '{name}'.*use auto, cpu, cuda, cuda:N or mps"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_refused_before_any_work() -> None:
    with pytest.raises(UserError, match="'cuda:0' was requested but CUDA is not available here; use auto or cpu"):
        resolve_device("cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")


def test_the_device_error_reaches_the_terminal_without_a_traceback(tmp_path: Path, run_cli) -> None:
    model = tiny_model(tmp_path / "model.pt")
    result = run_cli("sample", "--model", model, "--n", 10, "--out", tmp_path / "s.npz", "--device", "gpu")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip().startswith("ganrepro sample: error: device 'gpu'")
    assert not (tmp_path / "s.npz").exists()


def test_an_npz_that_is_not_a_prepared_dataset_is_named_as_such(tmp_path: Path) -> None:
    samples = tmp_path / "samples.npz"
    save_npz(samples, x=np.zeros((3, 4), np.float32))
    for read in (read_meta, lambda p: load_split(p, "train")):
        with pytest.raises(UserError, match=f"{samples}: not a prepared dataset .*run `ganrepro prepare"):
            read(samples)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(samples.read_bytes()[:40])
    with pytest.raises(UserError, match=f"{truncated}: unreadable, not a prepared dataset"):
        read_meta(truncated)


def test_an_unreadable_array_file_is_named(tmp_path: Path) -> None:
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match=f"{objects}: unreadable as numpy arrays"):
        load_array(objects)
    truncated = tmp_path / "x.npz"
    save_npz(truncated, x=np.ones((10, 10)))
    truncated.write_bytes(truncated.read_bytes()[:30])
    with pytest.raises(UserError, match=f"{truncated}: unreadable as numpy arrays"):
        load_array(f"{truncated}:x")


def test_a_missing_or_malformed_json_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"{tmp_path / 'none.json'}: no such file"):
        read_json(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"log_likelihood": 1')
    with pytest.raises(UserError, match=f"{bad}: not valid JSON"):
        read_json(bad)


def test_a_torch_file_of_another_kind_is_not_taken_for_a_model_or_classifier(tmp_path: Path) -> None:
    other = tmp_path / "checkpoint.pt"
    save_torch(other, {"step": 3, "optimizer": {}})
    with pytest.raises(UserError, match=f"{other}: not the file expected here \\(it has no meta, G, D\\); train"):
        load_model(other, torch.device("cpu"))
    with pytest.raises(UserError, match="it has no state, config\\); run `ganrepro classifier` again"):
        load_classifier(other)
    damaged = tmp_path / "classifier.pt"
    damaged.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match=f"{damaged}: unreadable, truncated or corrupted"):
        load_classifier(damaged)


def test_bad_command_line_values_name_the_option(tmp_path: Path, run_cli) -> None:
    table = run_cli("table", "--out-dir", tmp_path, "--config-json", "{bad")
    assert table.code == 2 and "--config-json is not valid JSON" in table.err
    train = run_cli("train", "toy1d", "--epochs", 0, "--out", tmp_path / "run", "--data", tmp_path / "none.npz")
    assert train.code == 2 and "--epochs: epochs = 0: must be >= 1" in train.err, train.err
    assert not (tmp_path / "run").exists()


def test_training_logs_must_pair_with_the_summaries(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--train names 2 training summaries and --logs 1 training logs"):
        combine_logs([tmp_path / "a.json", tmp_path / "b.json"], [tmp_path / "a.csv"])
    with pytest.raises(UserError, match="training log\\(s\\) not found: .*a.csv \\(train the model first\\)"):
        combine_logs([tmp_path / "a.json"], [tmp_path / "a.csv"])


def test_training_keys_that_disagree_are_refused_naming_the_section() -> None:
    cfg = tiny_config(checkpoint_every=100, log_every=10)
    mapping = {**cfg.as_dict(), "g_activations": ["relu", "sigmoid"]}
    with pytest.raises(UserError, match=r"^train.tiny: g_activations names 2 activation\(s\) for the 1 hidden"):
        TrainConfig.from_mapping(mapping, "train.tiny")
    with pytest.raises(UserError, match=r"checkpoint_every \(100\) must be a multiple of log_every \(30\)"):
        cfg.replace(log_every=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "toy1d", "--data", "{tmp}/none.npz", "--out", "{tmp}/run"],
            "none.npz: no such prepared dataset (run `ganrepro prepare",
        ),
        (
            ["sample", "--model", "{tmp}/none.pt", "--n", "5", "--out", "{tmp}/s.npz"],
            "none.pt: model file not found (run `ganrepro train` first)",
        ),
        (
            ["train", "nosuch", "--data", "{tmp}/none.npz", "--out", "{tmp}/run"],
            "params: no train.nosuch section (known: ",
        ),
        (
            ["train", "toy1d", "--params", "{tmp}/absent.yaml", "--out", "{tmp}/run"],
            "absent.yaml: parameters file not found (run from the project root or pass --params)",
        ),
    ],
    ids=["train before prepare", "sample before train", "unknown dataset", "no params file"],
)
def test_steps_run_out_of_order_say_what_to_run_first(tmp_path: Path, run_cli, args: list[str], message: str) -> None:
    result = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.code == 2 and message in result.err and "Traceback" not in result.err, result.err
    assert not (tmp_path / "run").exists() and not (tmp_path / "s.npz").exists()


def test_an_array_file_with_several_arrays_needs_its_key(tmp_path: Path) -> None:
    both = tmp_path / "both.npz"
    save_npz(both, x=np.zeros((2, 3)), y=np.zeros(2))
    with pytest.raises(UserError, match=r"both.npz holds \['x', 'y'\]; name one as .*both.npz:KEY"):
        load_array(both)
    with pytest.raises(UserError, match=r"both.npz has no array 'z'; it holds \['x', 'y'\]"):
        load_array(f"{both}:z")
    assert load_array(f"{both}:x").shape == (2, 3)


def test_a_figure_of_missing_training_logs_names_them(tmp_path: Path, run_cli) -> None:
    log, summary = tmp_path / "run/train_log.csv", tmp_path / "run/train.json"
    result = run_cli("figure", "curves", "--logs", log, "--summaries", summary, "--out", tmp_path / "curves")
    assert result.code == 2 and f"training log(s) not found: {log}" in result.err
    assert not list(tmp_path.glob("curves*"))


def test_inpainting_with_another_datasets_classifier_is_refused_before_training(tmp_path: Path, run_cli) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz")  # (1, 6, 6) images in 3 classes
    classifier = tmp_path / "classifier.pt"
    config = {"channels": CHANNELS, "hidden": HIDDEN, "dropout": DROPOUT}
    save_torch(classifier, classifier_blob(Classifier((1, 8, 8), 10), config, "other"))
    out = tmp_path / "inpaint"
    result = run_cli("inpaint-train", "mnist", "--data", data, "--classifier", classifier, "--out-dir", out)
    assert result.code == 2, result.err
    assert (
        f"{data}: examples [1, 6, 6] in 3 classes, but the classifier was trained on [1, 8, 8] in 10 classes "
        "(other); pass the classifier of this dataset" in result.err
    )
    assert not out.exists()
