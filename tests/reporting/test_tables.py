"""Table 1: paper rows, this reproduction's rows from parzen json files, seeds, folds, skipped datasets,
reference rows, reduced budgets, published anchors."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import yaml

from ganrepro.cli import main
from ganrepro.io import write_json
from ganrepro.reporting.tables import format_score, reduced_budget

from helpers import markdown_text


def parzen_json(
    path: Path,
    dataset: str,
    ll: float,
    se: float,
    *,
    model: str = "gan",
    seed: int | None = 0,
    fold: int | None = None,
    fine: tuple[float, float] | None = None,
) -> str:
    """A json shaped like `ganrepro parzen` output (the fields the table reads)."""
    write_json(
        path,
        {
            "dataset": dataset,
            "model": model,
            "seed": seed,
            "fold": fold,
            "label": None,
            "log_likelihood": ll,
            "standard_error": se,
            "sigma": 0.2154,
            "fine": {"sigma": 0.19, "log_likelihood": fine[0], "standard_error": fine[1], "valid_scores": []}
            if fine
            else None,
            "sigma_grid_spec": "logspace(-1.0, 0.0, 10)",
            "n_valid_used": 1000,
            "fine_step": 0.01,
        },
    )
    return str(path)


def md_row(md: str, label: str) -> list[str]:
    """Cells of the Markdown row whose first cell is `label`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in\n{md}")


def test_format_like_the_paper() -> None:
    assert format_score(138, 2) == "138 ± 2"
    assert format_score(121, 1.6) == "121 ± 1.6"
    assert format_score(1909, 66) == "1909 ± 66"
    assert format_score(225.4, 2.04) == "225 ± 2"
    assert format_score(-2.8312, 0.0432) == "-2.83 ± 0.043"


def test_table_from_parzen_files(tmp_path: Path) -> None:
    seeds_ll = [220.0, 224.0, 230.0]
    gan = [
        parzen_json(tmp_path / f"gan{s}.json", "mnist", ll, 2.1, seed=s, fine=(ll + 10, 2.0))
        for s, ll in enumerate(seeds_ll)
    ]
    gan.append(parzen_json(tmp_path / "cifar.json", "cifar10", 1500.4, 12.3))
    gan.append(parzen_json(tmp_path / "fashion.json", "fashion-mnist", 350.2, 1.04))
    ref = parzen_json(tmp_path / "ref.json", "mnist", 230.1, 2.04, model="reference")
    out = tmp_path / "table"
    assert (
        main(
            [
                "table",
                "--parzen",
                *gan,
                "--reference",
                ref,
                "--skipped",
                "tfd=TFD_48x48.mat not found (licensed)",
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )

    md = markdown_text(out / "table1.md")
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert header == ["Model", "MNIST", "TFD", "Fashion-MNIST", "CIFAR-10"]
    assert md_row(md, "DBN") == ["138 ± 2", "1909 ± 66", "—", "—"]
    assert md_row(md, "Stacked CAE")[:2] == ["121 ± 1.6", "2110 ± 50"]
    assert md_row(md, "Deep GSN")[:2] == ["214 ± 1.1", "1890 ± 29"]
    assert md_row(md, "Adversarial nets")[:2] == ["225 ± 2", "2057 ± 26"]

    mean, spread = np.mean(seeds_ll), np.std(seeds_ll, ddof=1)
    assert (round(mean), round(spread, 1)) == (225, 5.0)
    skipped = "not run (see notes)"  # the reason once, in the notes
    assert md_row(md, "Adversarial nets (this reproduction)") == ["225 ± 5", skipped, "350 ± 1", "1500 ± 12"]
    assert md.count("TFD_48x48.mat not found") == 1 and "- TFD not run: TFD_48x48.mat not found (licensed)." in md
    assert md_row(md, "Adversarial nets (this reproduction), fine sigma grid")[:2] == ["235 ± 5", skipped]
    assert md_row(md, "Training images (reference)") == ["230 ± 2", skipped, "—", "—"]
    assert "standard deviation across 3 seeds" in md

    csv = (out / "table1.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == "Model,MNIST,TFD,Fashion-MNIST,CIFAR-10"
    assert "DBN,138 ± 2,1909 ± 66,—,—" in csv
    assert f"Adversarial nets (this reproduction),225 ± 5,{skipped},350 ± 1,1500 ± 12" in csv

    tex = (out / "table1.tex").read_text()
    assert r"DBN & $138 \pm 2$ & $1909 \pm 66$ & --- & --- \\" in tex
    assert "% TFD not run: TFD_48x48.mat not found (licensed).\n" in tex and "not run (see notes) &" in tex
    assert r"\begin{tabular}{lrrrr}" in tex and r"\bottomrule" in tex

    table = json.loads((out / "table1.json").read_text())
    cell = next(r for r in table["rows"] if r["model"] == "Adversarial nets (this reproduction)")["cells"]["mnist"]
    assert math.isclose(cell["log_likelihood"], mean) and math.isclose(cell["error"], spread)
    assert cell["seeds"] == [0, 1, 2]


def test_tfd_folds_are_averaged(tmp_path: Path) -> None:
    lls, ses = [2000.0, 2060.0, 2090.0], [20.0, 30.0, 25.0]
    files = [parzen_json(tmp_path / f"tfd{f}.json", "tfd", ll, se, fold=f) for f, (ll, se) in enumerate(zip(lls, ses))]
    files.append(parzen_json(tmp_path / "mnist.json", "mnist", 200.0, 2.0))
    assert main(["table", "--parzen", *files, "--out-dir", str(tmp_path)]) == 0
    md = markdown_text(tmp_path / "table1.md")
    se = np.std(lls, ddof=1) / math.sqrt(3)  # across folds, as the paper's caption says for TFD
    assert md_row(md, "Adversarial nets (this reproduction)") == ["200 ± 2", format_score(np.mean(lls), se)]
    assert md_row(md, "Adversarial nets (this reproduction)")[1] == "2050 ± 26"  # stdev(2000, 2060, 2090) / sqrt 3
    assert md_row(md, "Training images (reference)") == ["not run", "not run"]
    assert "standard error across the 3 folds" in md


def test_bad_inputs_are_user_errors(tmp_path: Path, capsys) -> None:
    f = parzen_json(tmp_path / "a.json", "tfd", 2000.0, 20.0)
    assert main(["table", "--parzen", f, "--skipped", "tfd=no file", "--out-dir", str(tmp_path)]) == 2
    assert "--skipped names ['tfd'], but parzen results were given for it" in capsys.readouterr().err
    assert main(["table", "--parzen", f, f, "--out-dir", str(tmp_path)]) == 2
    assert "a.json repeats seed 0, fold None of Adversarial nets (this reproduction) on tfd" in capsys.readouterr().err
    write_json(tmp_path / "b.json", {"log_likelihood": 1.0, "standard_error": 0.1, "sigma": 0.2})
    assert main(["table", "--parzen", str(tmp_path / "b.json"), "--out-dir", str(tmp_path)]) == 2
    assert "--dataset" in capsys.readouterr().err
    good = parzen_json(tmp_path / "m.json", "mnist", 220.0, 2.0)  # Table 1 renders; its --metrics is missing
    assert main(["table", "--parzen", good, "--metrics", str(tmp_path / "no.json"), "--out-dir", str(tmp_path)]) == 2
    assert f"{tmp_path / 'no.json'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "table1.md").exists()  # nothing written: every input is read first


def test_seeds_give_mean_and_sd_with_each_seed_beside_in_table_and_metrics(tmp_path: Path) -> None:
    seeds, lls, fines = [2, 10, 3], [220.0, 228.0, 224.0], [226.0, 231.0, 230.0]  # seed 10 sorts after 3
    files = [
        parzen_json(tmp_path / f"s{s}.json", "mnist", ll, 2.0, seed=s, fine=(f, 2.1))
        for s, ll, f in zip(seeds, lls, fines)
    ]
    assert main(["table", "--parzen", *files, "--out-dir", str(tmp_path / "t")]) == 0
    md = markdown_text(tmp_path / "t/table1.md")
    # by hand: mean 224, SD 4; fine: mean 229, SD sqrt(((226-229)^2 + (230-229)^2 + (231-229)^2) / 2) = sqrt 7
    assert md_row(md, "Adversarial nets (this reproduction)")[0] == "224 ± 4"
    assert md_row(md, "Adversarial nets (this reproduction), fine sigma grid")[0] == "229 ± 2.6"
    assert (
        "Adversarial nets (this reproduction), MNIST: ± is the standard deviation across 3 seeds; "
        "per seed: s2 220.0, s3 224.0, s10 228.0; the paper: 225 ± 2."
    ) in md
    assert (
        "fine sigma grid, MNIST: ± is the standard deviation across 3 seeds; per seed: s2 226.0, s3 230.0, s10 231.0"
        in md
    )

    out = tmp_path / "metrics.json"
    assert main(["metrics", "--dataset", "mnist", "--parzen", *files, "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert (m["parzen_log_likelihood"], m["parzen_log_likelihood_std"]) == (224.0, 4.0)
    assert [m[f"parzen_log_likelihood_s{s}"] for s in seeds] == lls
    assert m["parzen_fine_log_likelihood"] == 229.0 and math.isclose(m["parzen_fine_log_likelihood_std"], math.sqrt(7))
    assert [m[f"parzen_fine_log_likelihood_s{s}"] for s in seeds] == fines
    assert (m["paper_log_likelihood"], m["paper_error"]) == (225, 2)
    assert "parzen_sigma_s2" not in m  # each seed's value only for the scores

    assert main(["table", "--metrics", str(out), "--out-dir", str(tmp_path / "t")]) == 0
    extended = markdown_text(tmp_path / "t/table1_extended.md")
    assert "| Parzen log-likelihood, paper protocol | 224 ± 4 |" in extended
    assert "| Parzen log-likelihood, paper protocol, per seed | s2 220.0, s3 224.0, s10 228.0 |" in extended
    assert "| Parzen log-likelihood, fine sigma grid, per seed | s2 226.0, s3 230.0, s10 231.0 |" in extended
    assert "| Adversarial nets, the paper's Table 1 (quoted, not measured) | 225 ± 2 |" in extended


def test_kmeans_reference_row_and_published_anchors(tmp_path: Path) -> None:
    gan = parzen_json(tmp_path / "gan.json", "mnist", 220.0, 2.0)
    ref = parzen_json(tmp_path / "ref.json", "mnist", 240.0, 2.0, model="reference", seed=None)
    km = parzen_json(tmp_path / "km.json", "mnist", 310.0, 2.2, model="kmeans", seed=None)
    write_json(tmp_path / "metrics.json", {"dataset": "mnist", "kmeans_log_likelihood": 310.04})
    assert (
        main(
            [
                "table",
                "--parzen",
                gan,
                "--reference",
                ref,
                "--kmeans",
                km,
                "--metrics",
                str(tmp_path / "metrics.json"),
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    md = markdown_text(tmp_path / "table1.md")
    labels = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")]
    assert labels[-2:] == ["Training images (reference)", "k-means centres of the training set (reference)"]
    assert md_row(md, "k-means centres of the training set (reference)") == ["310 ± 2.2", "not run"]
    assert "centres of k-means on the training set (k = the number of samples)" in md
    extended = markdown_text(tmp_path / "table1_extended.md")
    assert "| Parzen log-likelihood, k-means centres of the training set (reference) | 310 |" in extended
    quoted = extended[extended.index("quoted, not measured") :]
    for model, score in (
        ("Adversarial autoencoder", "340 ± 2"),
        ("GMMN + AE", "282 ± 2"),
        ("Adversarial nets", "225 ± 2"),
        ("Deep GSN", "214 ± 1.1"),
        ("DBN", "138 ± 2"),
        ("Conditional adversarial net", "132 ± 1.8"),
        ("Stacked CAE", "121 ± 1.6"),
    ):
        assert md_row(quoted, model)[0] == score
    assert (
        "Makhzani" in md_row(quoted, "Adversarial autoencoder")[1] and "Li, Swersky" in md_row(quoted, "GMMN + AE")[1]
    )
    assert "Mirza" in md_row(quoted, "Conditional adversarial net")[1]


def fast_config(params: dict, **datasets: list[str]) -> dict:
    """The project's params with fast-preset-like budgets (independent of workflow/presets/fast.yaml)."""
    config = copy.deepcopy(params)
    config.update(preset="fast", datasets=datasets.get("datasets", ["mnist"]))
    config["train"]["mnist"]["epochs"] = 2
    config["sample"]["n"] = 2000
    config["parzen"].update(test_limit=1000, valid_limit=500, sigma_num=20)
    return config


def test_reduced_budget_names_each_shortfall_against_the_paper_and_the_defaults(repo_root: Path) -> None:
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    default_epochs = params["train"]["mnist"]["epochs"]
    config = fast_config(params)
    protocol = [
        "2000 samples (the paper: 10,000)",
        "first 1000 test points (the paper: all)",
        "sigma chosen on 500 validation points (the paper: 1,000)",
        "sigma grid logspace(-1.0, 0.0, 20) (the paper: logspace(-1.0, 0.0, 10))",
    ]
    assert reduced_budget(config, "mnist", params) == ["fast preset", f"2 epochs (default {default_epochs})", *protocol]
    assert reduced_budget(config, "mnist", params, trained=False) == ["fast preset", *protocol]
    # TFD: the authors chose sigma on the whole validation fold, and so does the workflow
    assert "sigma chosen on 500 validation points (the paper: 1,000)" not in reduced_budget(config, "tfd", params)
    config["train"]["mnist"]["train_limit"] = 5000
    assert "first 5000 training examples" in reduced_budget(config, "mnist", params)
    for dataset in ("mnist", "tfd", "cifar10"):  # the project's defaults are the paper's protocol
        assert reduced_budget(params, dataset, params) == [], dataset


def test_table_labels_reduced_budgets_and_datasets_left_out(tmp_path: Path, repo_root: Path) -> None:
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    config = fast_config(params, datasets=["mnist", "toy1d"])
    gan = parzen_json(tmp_path / "gan.json", "mnist", -45.3, 2.1)
    ref = parzen_json(tmp_path / "ref.json", "mnist", 120.0, 2.0, model="reference", seed=None)
    write_json(tmp_path / "metrics.json", {"dataset": "mnist", "parzen_log_likelihood": -45.3})
    assert (
        main(
            [
                "table",
                "--parzen",
                gan,
                "--reference",
                ref,
                "--metrics",
                str(tmp_path / "metrics.json"),
                "--config-json",
                json.dumps(config),
                "--params",
                str(repo_root / "params.yaml"),
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    md = markdown_text(tmp_path / "table1.md")
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert header == ["Model", "MNIST", "TFD", "Reduced budget (not comparable with the paper)"]
    epochs = params["train"]["mnist"]["epochs"]
    protocol = (
        "2000 samples (the paper: 10,000), first 1000 test points (the paper: all), sigma chosen on 500 "
        "validation points (the paper: 1,000), sigma grid logspace(-1.0, 0.0, 20) (the paper: logspace(-1.0, 0.0, 10))"
    )
    assert md_row(md, "Adversarial nets (this reproduction)") == ["-45 ± 2.1", "not in the datasets list", "MNIST"]
    assert md_row(md, "Training images (reference)") == ["120 ± 2", "not in the datasets list", "MNIST"]
    assert f"- Reduced budget of the models' rows: MNIST: fast preset, 2 epochs (default {epochs}), {protocol}." in md
    assert f"- Reduced budget of the reference rows: MNIST: fast preset, {protocol}." in md
    assert md_row(md, "Adversarial nets") == ["225 ± 2", "2057 ± 26", "—"]
    assert "Reduced budget (not comparable with the paper): rows run below the paper's budgets" in md
    assert r"Reduced budget (not comparable with the paper) \\" in (tmp_path / "table1.tex").read_text()
    table = json.loads((tmp_path / "table1.json").read_text())
    assert table["budget"]["models"]["mnist"][:2] == ["fast preset", f"2 epochs (default {epochs})"]
    extended = markdown_text(tmp_path / "table1_extended.md")
    assert (
        f"| Reduced budget (not comparable with the paper) | fast preset, 2 epochs (default {epochs}), 2000 samples"
        in extended
    )
