"""Parameters: presets, command-line strings, one-line errors, training sections with a base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from ganrepro import gan_config
from ganrepro.config import SCHEMA_PATH, coerce, json_option, resolve, step_params, train_config
from ganrepro.errors import UserError
from ganrepro.gan_config import TrainConfig

from helpers import REPO_ROOT, write_images

PARAMS = REPO_ROOT / "params.yaml"


def params() -> dict:
    return yaml.safe_load(PARAMS.read_text())


def test_command_line_strings_become_the_schemas_types() -> None:
    """Snakemake passes `--config seeds=[0,1,2]` and nested JSON on as strings."""
    given = {
        "seeds": ["0", "1", "2"],
        "train": {"mnist": {"lr": "0.05", "g_hidden": ["10"], "max_col_norm": "null", "update": "alternating"}},
        "sample": {"seed": "7"},
        "datasets": ["mnist"],
    }
    assert coerce(given) == {
        "seeds": [0, 1, 2],
        "sample": {"seed": 7},
        "datasets": ["mnist"],
        "train": {"mnist": {"lr": 0.05, "g_hidden": [10], "max_col_norm": None, "update": "alternating"}},
    }
    assert coerce({"seeds": ["a"]}) == {"seeds": ["a"]}  # left for validation to refuse


def test_preset_is_merged_over_params_and_under_overrides() -> None:
    cfg = resolve(PARAMS, [("--config", {"preset": "fast", "train": {"mnist": {"lr": "0.05"}}})])
    assert cfg["train"]["mnist"]["epochs"] == 2 and cfg["sample"]["n"] == 2000  # the preset's
    assert cfg["train"]["mnist"]["lr"] == 0.05  # the command line's
    assert cfg["datasets"] == params()["datasets"]  # the preset keeps the default dataset list
    assert resolve(PARAMS)["train"]["mnist"]["epochs"] == params()["train"]["mnist"]["epochs"]


@pytest.mark.parametrize(
    "overlay, expected",
    [
        ({"train": {"mnist": {"lrr": 0.1}}}, "train.mnist.lrr: unknown key (set in my.yaml); did you mean 'lr'?"),
        ({"trian": {}}, "trian: unknown key (set in my.yaml); did you mean 'train'?"),
        ({"datasets": ["mnsit"]}, "datasets: unknown dataset 'mnsit' (set in my.yaml); did you mean 'mnist'?"),
        (
            {"train": {"mnsit": {"lr": 0.1}}},
            "train.mnsit: no dataset of that name (set in my.yaml); did you mean 'mnist'?",
        ),
        ({"seeds": ["x"]}, "seeds.0 = 'x': must be of type integer (set in my.yaml)"),
        ({"sample": {"n": 0}}, "sample.n = 0: must be >= 1 (set in my.yaml)"),
        ({"preset": "fats"}, "preset: unknown preset 'fats' (available: fast, paper)"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_the_key_where_and_the_closest_name(overlay: dict, expected: str) -> None:
    with pytest.raises(UserError) as err:
        resolve(PARAMS, [("my.yaml", overlay)])
    assert str(err.value) == expected


def test_a_bad_value_in_params_yaml_names_params_yaml(tmp_path: Path) -> None:
    bad = params()
    bad["train"]["mnist"]["update"] = "alt"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(
        UserError,
        match=r"^train\.mnist\.update = 'alt': must be one of simultaneous, alternating "
        r"\(set in params\.yaml\)$",
    ):
        resolve(tmp_path / "params.yaml")


def test_a_custom_dataset_builds_on_a_named_base_section() -> None:
    cfg = params()
    cfg["data"]["custom"] = {"mine": {"path": "x.npz"}, "faces": {"path": "y.npz"}}
    cfg["train"]["mine"] = {"epochs": 7}  # only what it changes: the rest comes from train.mnist
    cfg["train"]["faces"] = {"base": "cifar10", "lr": 0.01}
    mine, faces = train_config(cfg, "mine"), train_config(cfg, "faces")
    mnist, cifar = train_config(cfg, "mnist"), train_config(cfg, "cifar10")
    assert mine.as_dict() == mnist.as_dict() | {"epochs": 7}
    assert faces.as_dict() == cifar.as_dict() | {"lr": 0.01}
    cfg["train"]["faces"]["base"] = "cifar"
    with pytest.raises(UserError, match=r"train\.faces\.base: no train\.cifar section; did you mean 'cifar10'\?"):
        train_config(cfg, "faces")


def test_a_section_without_a_complete_base_names_the_missing_keys() -> None:
    cfg = params()
    cfg["datasets"] = ["mnist"]
    cfg["train"]["fashion-mnist"] = {"epochs": 3}
    with pytest.raises(
        UserError,
        match=r"^train\.fashion-mnist: missing arch, noise, .*g_irange.* after merging "
        r"train\.fashion-mnist over train\.common; .*base",
    ):
        train_config(cfg, "fashion-mnist")
    cfg["train"]["fashion-mnist"]["base"] = "fashion-mnist"
    with pytest.raises(UserError, match="makes a cycle"):
        train_config(cfg, "fashion-mnist")


def test_train_cli_takes_a_partial_config_over_the_defaults(run_cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the project's params.yaml gives the defaults
    data = write_images(tmp_path / "tiny.npz", n=100, side=4)
    partial = {
        "epochs": 1,
        "g_hidden": [8],
        "d_units": [8],
        "d_pieces": 2,
        "batch_size": 20,
        "valid_every": 0,
        "log_every": 5,
        "checkpoint_every": 5,
        "select": "last",
    }
    result = run_cli("train", "mnist", "--data", data, "--out", tmp_path / "run", "--config-json", json.dumps(partial))
    assert result.code == 0, result.err
    summary = json.loads((tmp_path / "run/train.json").read_text())
    assert summary["steps"] == 5
    saved = torch.load(tmp_path / "run/model.pt", weights_only=True)["meta"]["config"]
    mnist = {**params()["train"]["common"], **params()["train"]["mnist"]}  # the keys the JSON left out
    for key in ("lr", "momentum_start", "momentum_end", "d_irange", "g_irange", "z_dim", "noise"):
        assert saved[key] == mnist[key], key
    assert saved["g_hidden"] == [8] and saved["d_pieces"] == 2
    bad = run_cli("train", "mnist", "--data", data, "--out", tmp_path / "run2", "--config-json", '{"epoch": 1}')
    assert bad.code == 2 and "--config-json: epoch: unknown key; did you mean 'epochs'?" in bad.err


def test_overrides_win_over_every_derived_key() -> None:
    """A full training section passed back (as the workflow does) comes out unchanged."""
    cfg = train_config(params(), "mnist", {"valid_sigmas": [0.2], "device": "cpu", "lr": 0.5})
    assert cfg.valid_sigmas == [0.2] and cfg.device == "cpu" and cfg.lr == 0.5
    mnist = train_config(params(), "mnist")
    assert train_config(params(), "mnist", mnist.as_dict()).as_dict() == mnist.as_dict()


def test_step_params_take_missing_values_from_params_yaml_and_check_them(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("sample:\n  n: 50\n  seed: 7\n  draws: 2\n")
    assert step_params("sample", {"n": None, "seed": 3}, params) == {"n": 50, "seed": 3, "draws": 2}
    assert step_params("sample", {"n": 5, "seed": 3, "draws": 1}, tmp_path / "absent.yaml")["n"] == 5
    with pytest.raises(UserError, match=r"sample.n = 0: must be >= 1 \(set in the command line\)"):
        step_params("sample", {"n": 0}, params)
    with pytest.raises(UserError, match="sample: unknown parameter"):
        step_params("sample", {"size": 5}, params)
    with pytest.raises(UserError, match="no 'infer' section"):
        step_params("infer", {}, params)


def test_json_options_are_objects_or_a_one_line_error() -> None:
    assert json_option(None) == {} and json_option('{"lr": 0.05}') == {"lr": 0.05}
    with pytest.raises(UserError, match="--config-json is not valid JSON"):
        json_option("{lr: 0.05}")
    with pytest.raises(UserError, match="--custom-json must be a JSON object"):
        json_option("[1, 2]", "--custom-json")


def test_train_config_refuses_unknown_keys_by_name() -> None:
    given = train_config(params(), "mnist").as_dict() | {"epoch": 3, "lrate": 0.1}
    with pytest.raises(UserError, match=r"^model\.pt: unknown training key\(s\) epoch, lrate$"):
        TrainConfig.from_mapping(given, "model.pt")


def test_train_config_names_the_missing_required_keys() -> None:
    given = {k: v for k, v in train_config(params(), "mnist").as_dict().items() if k not in ("lr", "z_dim")}
    with pytest.raises(UserError, match=r"^model\.pt: missing z_dim, lr$"):
        TrainConfig.from_mapping(given, "model.pt")


def test_as_dict_round_trips_and_keeps_exactly_the_keys_given() -> None:
    """The dict is the one merged from params.yaml (optional keys given at their defaults stay, absent
    ones stay absent): the workflow's JSON argument and checkpoints depend on it."""
    for dataset in ("mnist", "cifar10", "toy1d"):
        cfg = train_config(params(), dataset).replace(device="cpu", conditional=False)
        d = cfg.as_dict()
        assert TrainConfig.from_mapping(d, dataset) == cfg and TrainConfig.from_mapping(d, dataset).as_dict() == d
        assert d["max_col_norm"] is None and d["conditional"] is False and "seed" not in d
        assert ("g_activations" in d) == (dataset == "cifar10")
    required = {k: v for k, v in d.items() if k in gan_config.REQUIRED_KEYS}
    assert TrainConfig.from_mapping(required, "x").as_dict() == required  # optional keys default, and stay out
    assert TrainConfig.from_mapping(required, "x").replace(seed=0).as_dict() == required | {"seed": 0}


def test_key_roles_are_todays_sets() -> None:
    assert gan_config.RESUMABLE_KEYS == {
        "epochs",
        "checkpoint_every",
        "log_every",
        "valid_every",
        "valid_samples",
        "valid_points",
        "valid_sigmas",
        "select",
        "snapshot_every",
        "device",
    }
    assert gan_config.VALIDATION_KEYS == ("valid_samples", "valid_points", "valid_sigmas")
    assert gan_config.RUNTIME_KEYS == {"device", "conditional", "seed", "valid_sigmas"}


def test_the_schema_train_section_and_the_dataclass_have_the_same_keys() -> None:
    section = set(yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]["train_section"]["properties"]) - {"base"}
    assert section == set(gan_config.KEYS) - gan_config.RUNTIME_KEYS
    optional = set(gan_config.KEYS) - set(gan_config.REQUIRED_KEYS)
    assert optional == {"g_activations", "max_col_norm", "bias_irange", "snapshot_every", *gan_config.RUNTIME_KEYS}
    assert set(params()["train"]["common"]) | set(params()["train"]["mnist"]) >= set(gan_config.REQUIRED_KEYS)
