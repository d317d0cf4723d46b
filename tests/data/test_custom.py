"""A user's own data (data.custom): .npz files and image folders, the settings from params and the
command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganrepro.data.custom import custom_source_files
from ganrepro.data.prepared import load_labels, load_split, read_meta
from ganrepro.data.settings import make_settings
from ganrepro.data.sources import KNOWN_DATASETS, MIRROR_ENV, known_datasets
from ganrepro.errors import UserError
from ganrepro.io import save_npz

from helpers import leftovers

# -- A user's own data ---------------------------------------------------------------------------


def declare_custom(tmp_path: Path, path: str, **spec: float) -> None:
    entry = ", ".join(f"{k}: {v}" for k, v in {"path": path, **spec}.items())
    (tmp_path / "params.yaml").write_text(f"data:\n  custom:\n    mine: {{{entry}}}\n")


@pytest.mark.parametrize(
    ("key", "layout", "label_key"),
    [
        ("images", "NHW", "labels"),
        ("x", "NHWC", "y"),
        ("images", "NCHW", None),
    ],
)
def test_custom_npz(key, layout, label_key, run_cli, tmp_path):
    rng = np.random.default_rng(3)
    channels = 1 if layout == "NHW" else 3
    pixels = rng.integers(0, 256, (50, channels, 5, 4), dtype=np.uint8)  # the expected (N, C, H, W)
    stored = {"NHW": pixels[:, 0], "NHWC": pixels.transpose(0, 2, 3, 1) / 255.0, "NCHW": pixels}[layout]
    arrays = {key: stored, **({label_key: np.arange(50)} if label_key else {})}
    save_npz(tmp_path / "own.npz", **arrays)
    declare_custom(tmp_path, "own.npz", valid_fraction=0.2, test_fraction=0.1, seed=1)

    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw")
    assert result.code == 0, result.err
    out = tmp_path / "data/prepared/mine/dataset.npz"
    meta = read_meta(out)
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (35, 10, 5)
    assert meta["example_shape"] == [channels, 5, 4]
    if label_key:
        ys = [load_labels(out, s) for s in ("train", "valid", "test")]
        assert sorted(np.concatenate(ys).tolist()) == list(range(50)) and meta["num_classes"] == 50
        for split, y in zip(("train", "valid", "test"), ys):
            assert np.array_equal(load_split(out, split, unit=False), pixels[y])
    else:
        assert meta["num_classes"] is None and (load_labels(out, "train") == -1).all()


def test_custom_npz_out_of_range_pixels(run_cli, tmp_path):
    save_npz(tmp_path / "own.npz", images=np.full((10, 4, 4), 2.5))
    declare_custom(tmp_path, "own.npz")
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw")
    assert result.code == 2 and "own.npz" in result.err and "floats in [0, 1]" in result.err


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_custom_png_folder_with_class_subfolders(run_cli, tmp_path):
    rng = np.random.default_rng(4)
    pictures = {
        f"pics/{cls}/{i}.png": rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        for cls in ("cat", "dog")
        for i in range(5)
    }
    for name, array in pictures.items():
        write_png(tmp_path / name, array)
    declare_custom(tmp_path, "pics", valid_fraction=0.2, test_fraction=0.2)
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz").code == 0
    meta = read_meta("m.npz")
    assert meta["class_names"] == ["cat", "dog"] and meta["example_shape"] == [3, 6, 8]
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (6, 2, 2)
    by_pixels = {array.tobytes(): name.split("/")[1] for name, array in pictures.items()}
    for split in ("train", "valid", "test"):
        x, y = load_split("m.npz", split, unit=False), load_labels("m.npz", split)
        for image, label in zip(x, y):
            assert by_pixels[image.transpose(1, 2, 0).tobytes()] == meta["class_names"][label]


def test_custom_grayscale_folder_and_mixed_sizes(run_cli, tmp_path):
    for i in range(5):
        write_png(tmp_path / f"gray/{i}.png", np.full((4, 4), i * 50, dtype=np.uint8))
    declare_custom(tmp_path, "gray", valid_fraction=0.2, test_fraction=0.2)
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "g.npz").code == 0
    assert read_meta("g.npz")["example_shape"] == [1, 4, 4]
    assert read_meta("g.npz")["class_names"] is None

    write_png(tmp_path / "gray/odd.png", np.zeros((5, 3), dtype=np.uint8))
    assert run_cli("fetch", "mine", "--raw-dir", "raw").code == 0
    result = run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "h.npz")
    assert result.code == 2 and "differ in size" in result.err and "odd.png" in result.err
    assert not (tmp_path / "h.npz").exists() and leftovers(tmp_path) == []


def test_custom_spec_from_the_command_line_without_params(run_cli, tmp_path):
    """The workflow passes data.custom.<name> as --custom-json: no params file is read."""
    rng = np.random.default_rng(5)
    save_npz(tmp_path / "own.npz", images=rng.integers(0, 256, (50, 4, 4), dtype=np.uint8))
    spec = json.dumps({"path": "own.npz", "valid_fraction": 0.2, "test_fraction": 0.1, "seed": 1})
    result = run_cli("fetch", "mine", "--raw-dir", "raw")
    assert result.code == 2 and "unknown dataset 'mine'" in result.err
    assert run_cli("fetch", "mine", "--raw-dir", "raw", "--custom-json", spec).code == 0
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz", "--custom-json", spec).code == 0
    meta = read_meta("m.npz")
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (35, 10, 5) and "seed 1" in meta["splits"]

    declare_custom(tmp_path, "own.npz", valid_fraction=0.4)  # the option replaces the params file's entry
    assert run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz", "--custom-json", spec).code == 0
    assert read_meta("m.npz")["n_valid"] == 10


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("mine", "{path: own.npz}", "--custom-json is not valid JSON"),
        ("mine", '{"valid_fraction": 0.1}', "--custom-json: expected a mapping with 'path'"),
        ("mnist", '{"path": "own.npz"}', "may not reuse built-in names (mnist)"),
    ],
)
def test_custom_json_errors(run_cli, name, text, message):
    result = run_cli("fetch", name, "--raw-dir", "raw", "--custom-json", text)
    assert result.code == 2 and message in result.err


def test_custom_sources_that_cannot_be_read_say_why(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    save_npz(tmp_path / "other.npz", pixels=np.zeros((3, 2, 2), np.uint8))
    for path, message in (
        ("absent.npz", "data.custom.mine (params or --custom-json): path absent.npz does not exist"),
        ("empty", "empty: no PNG or JPEG files found"),
        ("other.npz", "other.npz: expected an array named 'images' or 'x'; found pixels"),
    ):
        spec = json.dumps({"path": path})
        fetched = run_cli("fetch", "mine", "--raw-dir", "raw", "--custom-json", spec)
        result = run_cli("prepare", "mine", "--raw-dir", "raw", "--out", "m.npz", "--custom-json", spec)
        errors = fetched.err + result.err
        assert 2 in (fetched.code, result.code) and message in errors and "Traceback" not in errors, errors
        assert not (tmp_path / "m.npz").exists()


def test_make_settings_precedence(monkeypatch):
    """Explicit values (the CLI's options) over $GANREPRO_MIRROR over the params data: section."""
    data = {"mirror": "from-params", "tfd_file": "t.mat", "toy_size": 7, "custom": {"a": {"path": "a"}}}
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert make_settings(data).mirror == Path("from-params")
    monkeypatch.setenv(MIRROR_ENV, "from-env")
    settings = make_settings(data, custom={"b": {"path": "b"}})
    assert settings.mirror == Path("from-env") and settings.tfd_path == Path("t.mat") and settings.toy_size == 7
    assert set(settings.custom) == {"a", "b"}
    assert make_settings(data, mirror=Path("given"), toy_size=3).mirror == Path("given")


def test_custom_source_files(tmp_path):
    save_npz(tmp_path / "own.npz", images=np.zeros((3, 2, 2), np.uint8))
    assert custom_source_files({"path": tmp_path / "own.npz"}) == [tmp_path / "own.npz"]
    for name in ("b/2.png", "a.jpg", "b/1.JPEG", "c/deeper/0.png"):
        write_png(tmp_path / "pics" / name, np.zeros((2, 2), np.uint8))
    (tmp_path / "pics/notes.txt").write_text("not an image")
    assert custom_source_files({"path": str(tmp_path / "pics"), "seed": 2}) == [
        tmp_path / "pics" / name for name in ("a.jpg", "b/1.JPEG", "b/2.png", "c/deeper/0.png")
    ]
    assert custom_source_files({"path": "missing.npz"}) == [Path("missing.npz")]  # the caller reports it
    with pytest.raises(UserError, match="expected a mapping with 'path'"):
        custom_source_files({"valid_fraction": 0.1})


def test_unknown_dataset_lists_known_ones(run_cli, tmp_path):
    declare_custom(tmp_path, "own.npz")
    result = run_cli("fetch", "nope", "--raw-dir", "raw")
    assert result.code == 2 and "unknown dataset 'nope'" in result.err
    assert all(name in result.err for name in (*KNOWN_DATASETS, "mine"))
    assert known_datasets({"data": {"custom": {"mine": {}}}}) == (*KNOWN_DATASETS, "mine")
