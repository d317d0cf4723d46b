"""`ganrepro prepare`: the paper's splits of TFD and the generated sets, the prepared file's API, and
the real MNIST / Fashion-MNIST files of the local mirror."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.data.toy import RING_MODES, RING_RADIUS, TOY1D_MEAN, TOY1D_STD
from ganrepro.errors import UserError

from helpers import read_idx, write_tfd


def test_prepare_before_fetch_says_what_to_run(run_cli):
    result = run_cli("prepare", "mnist", "--raw-dir", "raw")
    assert result.code == 2 and "ganrepro fetch mnist" in result.err


# -- TFD ---------------------------------------------------------------------------------------


def test_tfd_missing_file_explains_where_and_why(run_cli, tmp_path):
    result = run_cli("fetch", "tfd", "--raw-dir", "raw")
    assert result.code == 2
    assert "raw/tfd/TFD_48x48.mat not found" in result.err
    assert "licensed" in result.err and "--tfd-file" in result.err and "data.tfd_file" in result.err
    assert not (tmp_path / "raw/tfd/MANIFEST.json").exists()


def test_tfd_folds_and_labels(run_cli, tmp_path):
    mat = write_tfd(tmp_path / "TFD_48x48.mat")
    assert run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat").code == 0
    result = run_cli("prepare", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat", "--out", "t.npz")
    assert result.code == 0, result.err
    images, folds = mat["images"][:, None], mat["folds"].astype(int)
    labels = mat["labs_ex"].ravel().astype(int) - 1
    unlabeled = folds[:, 0] == 0
    assert np.array_equal(load_split("t.npz", "train", unit=False), images[unlabeled])
    assert (load_labels("t.npz", "train") == -1).all()
    for k in range(5):
        for split, code in (("valid", 2), ("test", 3)):
            chosen = folds[:, k] == code
            assert np.array_equal(load_split("t.npz", f"{split}_fold{k}", unit=False), images[chosen])
            assert np.array_equal(load_labels("t.npz", f"{split}_fold{k}"), labels[chosen])
    assert np.array_equal(load_split("t.npz", "valid"), load_split("t.npz", "valid_fold0"))
    meta = read_meta("t.npz")
    assert meta["example_shape"] == [1, 48, 48] and meta["num_classes"] == 7
    assert meta["n_test"] == int((folds[:, 0] == 3).sum())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda mat: mat.update(folds=mat["folds"][:, :4]), "folds has shape"),
        (lambda mat: mat.pop("labs_id"), "lacks labs_id"),
    ],
)
def test_tfd_bad_layout(run_cli, tmp_path, change, message):
    mat = write_tfd(tmp_path / "TFD_48x48.mat")
    change(mat)
    scipy.io.savemat(tmp_path / "TFD_48x48.mat", mat)
    result = run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat")
    assert result.code == 2 and message in result.err and "TFD_48x48.mat" in result.err


def test_tfd_truncated_file(run_cli, tmp_path):
    write_tfd(tmp_path / "TFD_48x48.mat")
    data = (tmp_path / "TFD_48x48.mat").read_bytes()
    (tmp_path / "TFD_48x48.mat").write_bytes(data[: len(data) // 2])
    result = run_cli("fetch", "tfd", "--raw-dir", "raw", "--tfd-file", "TFD_48x48.mat")
    assert result.code == 2 and "cannot be read as a MATLAB file" in result.err


# -- Toy sets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["toy1d", "ring"])
def test_toy_sets(name, run_cli, tmp_path):
    assert run_cli("fetch", name, "--raw-dir", "raw").code == 0
    assert [p.name for p in (tmp_path / "raw" / name).iterdir()] == ["MANIFEST.json"]
    assert run_cli("prepare", name, "--toy-size", 20_000, "--seed", 3, "--out", "a.npz").code == 0
    assert run_cli("prepare", name, "--toy-size", 500, "--seed", 3, "--out", "b.npz").code == 0
    assert run_cli("prepare", name, "--toy-size", 500, "--seed", 4, "--out", "c.npz").code == 0
    x = load_split("a.npz", "train")
    meta = read_meta("a.npz")
    assert x.dtype == np.float32 and (meta["n_train"], meta["n_valid"], meta["n_test"]) == (20_000, 10_000, 10_000)
    assert meta["kind"] == "vector" and meta["unit_scale"] == 1
    assert meta["value_range"][0] <= x.min() and x.max() <= meta["value_range"][1]
    assert np.array_equal(load_split("a.npz", "valid"), load_split("b.npz", "valid"))
    assert not np.array_equal(load_split("b.npz", "valid"), load_split("c.npz", "valid"))
    if name == "toy1d":
        assert x.shape == (20_000, 1) and meta["num_classes"] is None
        assert abs(x.mean() - TOY1D_MEAN) < 0.02 and abs(x.std() - TOY1D_STD) < 0.02
        assert (load_labels("a.npz", "train") == -1).all()
    else:
        y = load_labels("a.npz", "train")
        assert x.shape == (20_000, 2) and meta["num_classes"] == RING_MODES
        assert np.allclose(np.hypot(x[:, 0], x[:, 1]), RING_RADIUS, atol=0.1)
        angles = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
        assert np.array_equal(np.rint(angles / (2 * np.pi / RING_MODES)) % RING_MODES, y)
        assert set(np.unique(y)) == set(range(RING_MODES))


# -- Names and the public API --------------------------------------------------------------------


def test_load_split_names_the_available_splits(run_cli):
    assert run_cli("prepare", "toy1d", "--toy-size", 10, "--out", "t.npz").code == 0
    with pytest.raises(UserError, match="its splits are test, train, valid"):
        load_split("t.npz", "nope")


# -- The real files (local mirror) ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_dataset_from_mirror(name, shared_mirror, run_cli, tmp_path):
    assert run_cli("fetch", name, "--mirror", shared_mirror, "--raw-dir", "raw").code == 0
    assert run_cli("prepare", name, "--raw-dir", "raw", "--out", "p.npz").code == 0
    meta = read_meta("p.npz")
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (50_000, 10_000, 10_000)
    assert meta["example_shape"] == [1, 28, 28] and meta["num_classes"] == 10
    train_labels = read_idx(shared_mirror / name / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(shared_mirror / name / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(load_labels("p.npz", "train"), train_labels[:50_000])
    assert np.array_equal(load_labels("p.npz", "valid"), train_labels[50_000:])
    assert np.array_equal(load_labels("p.npz", "test"), test_labels)
    test_images = read_idx(shared_mirror / name / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(load_split("p.npz", "test", unit=False)[:, 0], test_images)


def test_idx_parser_refuses_data_other_than_unsigned_bytes(tmp_path) -> None:
    from ganrepro.data.formats import parse_idx

    with pytest.raises(UserError, match="not-idx.gz: not an IDX file of unsigned bytes"):
        parse_idx(b"\x00\x00\x0d\x03" + bytes(16), tmp_path / "not-idx.gz")  # float data
    with pytest.raises(UserError, match="declares shape"):
        parse_idx(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(3), tmp_path / "short.gz")
