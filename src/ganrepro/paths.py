"""Where every artifact lives. The workflow's rules, the report and the CLI defaults name files
through these functions only; called with Snakemake wildcards ("{dataset}") they give the rules'
patterns. dvc.yaml, which cannot import them, is checked against the DAG by the tests.

    data/raw/<dataset>/                    fetched files and MANIFEST.json
    data/prepared/<dataset>/               dataset.npz (the paper's splits), info.json
    results/runs/<dataset>/train/<variant>s<seed>/   model.pt, checkpoint.pt, train.json, train_log.csv
    results/runs/<dataset>/eval/<variant>s<seed>/    samples, Parzen, inference net, class metrics
    results/runs/<dataset>/                metrics.json, train_summary.json, train_curves.csv
    results/figures/, results/table1/, results/report.html, results/plan.json
"""

from __future__ import annotations

DATA = "data"
RESULTS = "results"
LOGS = "logs"
CONDITIONAL = "cond_"  # the variant prefix of the conditional GAN p(x | c)


RAW = f"{DATA}/raw"  # fetch writes RAW/<dataset>/


def raw_dir(dataset: str) -> str:
    return f"{RAW}/{dataset}"


def manifest(dataset: str) -> str:
    return f"{raw_dir(dataset)}/MANIFEST.json"


def prepared_dir(dataset: str) -> str:
    return f"{DATA}/prepared/{dataset}"


def prepared(dataset: str) -> str:
    """The prepared dataset: one .npz with the train/valid/test splits."""
    return f"{prepared_dir(dataset)}/dataset.npz"


def prepared_info(dataset: str) -> str:
    return f"{prepared_dir(dataset)}/info.json"


def within_results(path: str) -> str:
    """A path or glob pattern of this layout relative to the results folder: with "*" for the
    dataset, seed or variant, `Path(results).glob(within_results(metrics("*")))` finds every dataset's."""
    return path.removeprefix(f"{RESULTS}/")


def run_dir(dataset: str) -> str:
    return f"{RESULTS}/runs/{dataset}"


def networks_dir(dataset: str) -> str:
    """results/runs/<dataset>/train: every network trained on the dataset (the train stage's folder)."""
    return f"{run_dir(dataset)}/train"


def train_dir(dataset: str, seed: object, variant: str = "") -> str:
    return f"{networks_dir(dataset)}/{variant}s{seed}"


def model(dataset: str, seed: object, variant: str = "") -> str:
    return f"{train_dir(dataset, seed, variant)}/model.pt"


def train_record(dataset: str, seed: object, variant: str = "") -> str:
    """train.json: the run's summary (time, steps, selected checkpoint, validation history)."""
    return f"{train_dir(dataset, seed, variant)}/train.json"


def train_log(dataset: str, seed: object, variant: str = "") -> str:
    return f"{train_dir(dataset, seed, variant)}/train_log.csv"


def eval_dir(dataset: str, seed: object | None = None, variant: str = "") -> str:
    """results/runs/<dataset>/eval, or the folder of one model's evaluation."""
    base = f"{run_dir(dataset)}/eval"
    return base if seed is None else f"{base}/{variant}s{seed}"


def samples(dataset: str, seed: object, variant: str = "", draw: object = "") -> str:
    """samples.npz (the first draw, sample.seed) or samples_draw<k>.npz; `draw` may be a wildcard
    that holds the "_draw<k>" suffix."""
    suffix = draw if isinstance(draw, str) else (f"_draw{draw}" if draw else "")
    return f"{eval_dir(dataset, seed, variant)}/samples{suffix}.npz"


def parzen(dataset: str, seed: object, fold: object | None = None) -> str:
    name = "parzen.json" if fold is None else f"parzen_fold{fold}.json"
    return f"{eval_dir(dataset, seed)}/{name}"


def reference(dataset: str, kind: str = "reference", fold: object = "") -> str:
    """A Parzen reference row: real training images ("reference") or k-means centres ("kmeans");
    TFD has one per fold (`fold` an index, or a wildcard holding the "_fold<k>" suffix)."""
    suffix = fold if isinstance(fold, str) else f"_fold{fold}"
    return f"{eval_dir(dataset)}/{kind}_parzen{suffix}.json"


def kmeans_centres(dataset: str) -> str:
    return f"{eval_dir(dataset)}/kmeans_centres.npz"


def toy_metrics(dataset: str, seed: object) -> str:
    return f"{eval_dir(dataset, seed)}/toy_metrics.json"


def infer_dir(dataset: str, seed: object) -> str:
    return f"{eval_dir(dataset, seed)}/infer"


def infer_result(dataset: str, seed: object) -> str:
    return f"{infer_dir(dataset, seed)}/infer.json"


def classifier(dataset: str, ext: str = "pt") -> str:
    """The dataset's classifier (classifier.pt), or its summary with ext "json"."""
    return f"{networks_dir(dataset)}/classifier/classifier.{ext}"


def class_metrics(dataset: str, seed: object, variant: str = "") -> str:
    return f"{eval_dir(dataset, seed, variant)}/class_metrics.json"


def semisupervised(dataset: str, seed: object) -> str:
    """Few-label classification with the model's features and the baselines (extension 4)."""
    return f"{eval_dir(dataset, seed)}/semisupervised.json"


def metrics(dataset: str) -> str:
    """The flat per-dataset metrics DVC tracks (mean and spread over seeds)."""
    return f"{run_dir(dataset)}/metrics.json"


def train_summary(dataset: str) -> str:
    return f"{run_dir(dataset)}/train_summary.json"


def train_curves(dataset: str) -> str:
    return f"{run_dir(dataset)}/train_curves.csv"


def not_run(dataset: str, stage: str) -> str:
    """The marker a stage of a dataset that cannot run here writes instead of its outputs."""
    return f"{run_dir(dataset)}/{stage}/NOT_RUN.json"


def figures_dir(dataset: str) -> str:
    """results/figures/<dataset>: the dataset's figures (PNG and PDF) and index.md, which lists them."""
    return f"{RESULTS}/figures/{dataset}"


def figure(dataset: str, name: str, ext: str = "png") -> str:
    """One figure of a dataset; `name` is its caption's key (workflow/report/<name>.rst)."""
    return f"{figures_dir(dataset)}/{name}.{ext}"


def figure_index(dataset: str) -> str:
    return f"{figures_dir(dataset)}/index.md"


def table1(ext: str = "md", name: str = "table1") -> str:
    return f"{RESULTS}/table1/{name}.{ext}"


def report() -> str:
    return f"{RESULTS}/report.html"


def plan(results: str = RESULTS) -> str:
    """The training plan the workflow prints before any job (read by the report)."""
    return f"{results}/plan.json"


def log(step: str, name: str) -> str:
    return f"{LOGS}/{step}/{name}.log"


def inpaint_dir(dataset: str) -> str:
    """The inpainting GAN of a dataset: model.pt, train.json, valid_curve.csv (and its checkpoint)."""
    return f"{networks_dir(dataset)}/inpaint"


def inpainter(dataset: str) -> str:
    return f"{inpaint_dir(dataset)}/model.pt"


def inpaint_metrics(dataset: str) -> str:
    """The inpainting GAN's scores on test images, against the baselines."""
    return f"{eval_dir(dataset)}/inpaint.json"
