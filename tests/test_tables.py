"""Table 1: paper rows, this reproduction's rows from parzen json files, seeds, folds, skipped datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ganrepro.cli import main
from ganrepro.io import write_json
from ganrepro.tables import format_score


def parzen_json(path: Path, dataset: str, ll: float, se: float, *, model: str = "gan", seed: int | None = 0,
                fold: int | None = None, fine: tuple[float, float] | None = None) -> str:
    """A json shaped like `ganrepro parzen` output (the fields the table reads)."""
    write_json(path, {
        "dataset": dataset, "model": model, "seed": seed, "fold": fold, "label": None,
        "log_likelihood": ll, "standard_error": se, "sigma": 0.2154,
        "fine": {"sigma": 0.19, "log_likelihood": fine[0], "standard_error": fine[1], "valid_scores": []} if fine else None,
        "sigma_grid_spec": "logspace(-1.0, 0.0, 10)", "n_valid_used": 1000, "fine_step": 0.01,
    })
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
    gan = [parzen_json(tmp_path / f"gan{s}.json", "mnist", ll, 2.1, seed=s, fine=(ll + 10, 2.0))
           for s, ll in enumerate(seeds_ll)]
    gan.append(parzen_json(tmp_path / "cifar.json", "cifar10", 1500.4, 12.3))
    gan.append(parzen_json(tmp_path / "fashion.json", "fashion-mnist", 350.2, 1.04))
    ref = parzen_json(tmp_path / "ref.json", "mnist", 230.1, 2.04, model="reference")
    out = tmp_path / "table"
    assert main(["table", "--parzen", *gan, "--reference", ref,
                 "--skipped", "tfd=TFD_48x48.mat not found (licensed)", "--out-dir", str(out)]) == 0

    md = (out / "table1.md").read_text()
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert header == ["Model", "MNIST", "TFD", "Fashion-MNIST", "CIFAR-10"]
    assert md_row(md, "DBN") == ["138 ± 2", "1909 ± 66", "—", "—"]
    assert md_row(md, "Stacked CAE")[:2] == ["121 ± 1.6", "2110 ± 50"]
    assert md_row(md, "Deep GSN")[:2] == ["214 ± 1.1", "1890 ± 29"]
    assert md_row(md, "Adversarial nets")[:2] == ["225 ± 2", "2057 ± 26"]

    mean, spread = np.mean(seeds_ll), np.std(seeds_ll, ddof=1)
    assert (round(mean), round(spread, 1)) == (225, 5.0)
    skipped = "not run: TFD_48x48.mat not found (licensed)"
    assert md_row(md, "Adversarial nets (this reproduction)") == ["225 ± 5", skipped, "350 ± 1", "1500 ± 12"]
    assert md_row(md, "Adversarial nets (this reproduction), fine sigma grid")[:2] == ["235 ± 5", skipped]
    assert md_row(md, "Training images (reference)") == ["230 ± 2", skipped, "—", "—"]
    assert "standard deviation across 3 seeds" in md

    csv = (out / "table1.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == "Model,MNIST,TFD,Fashion-MNIST,CIFAR-10"
    assert "DBN,138 ± 2,1909 ± 66,—,—" in csv
    assert f"Adversarial nets (this reproduction),225 ± 5,{skipped},350 ± 1,1500 ± 12" in csv

    tex = (out / "table1.tex").read_text()
    assert r"DBN & $138 \pm 2$ & $1909 \pm 66$ & --- & --- \\" in tex
    assert r"not run: TFD\_48x48.mat not found (licensed)" in tex
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
    md = (tmp_path / "table1.md").read_text()
    se = np.std(lls, ddof=1) / math.sqrt(3)  # across folds, as the paper's caption says for TFD
    assert md_row(md, "Adversarial nets (this reproduction)") == ["200 ± 2", format_score(np.mean(lls), se)]
    assert md_row(md, "Adversarial nets (this reproduction)")[1] == "2050 ± 26"  # stdev(2000, 2060, 2090) / sqrt 3
    assert md_row(md, "Training images (reference)") == ["not run", "not run"]
    assert "standard error across the 3 folds" in md


def test_bad_inputs_are_user_errors(tmp_path: Path, capsys) -> None:
    f = parzen_json(tmp_path / "a.json", "tfd", 2000.0, 20.0)
    assert main(["table", "--parzen", f, "--skipped", "tfd=no file", "--out-dir", str(tmp_path)]) == 2
    assert main(["table", "--parzen", f, f, "--out-dir", str(tmp_path)]) == 2
    write_json(tmp_path / "b.json", {"log_likelihood": 1.0, "standard_error": 0.1, "sigma": 0.2})
    assert main(["table", "--parzen", str(tmp_path / "b.json"), "--out-dir", str(tmp_path)]) == 2
    assert "--dataset" in capsys.readouterr().err
    assert not (tmp_path / "table1.md").exists()
