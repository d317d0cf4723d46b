# Shared definitions: which datasets run, which are skipped and why, and per-dataset file lists.
import json
import os
import shlex
import sys
from pathlib import Path

from ganrepro import paths
from ganrepro.config import DEFAULT_CUSTOM_BASE, train_config
from ganrepro.data.custom import custom_source_files
from ganrepro.data.fetch import fetch_unavailable_reason
from ganrepro.data.settings import make_settings
from ganrepro.data.sources import TFD_FOLDS as TFD_FOLD_COUNT

# Jobs find `ganrepro` beside the Python running Snakemake (the project's .venv), activated or not.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

CONDA_ENV = "../envs/ganrepro.yaml"  # for --use-conda; relative to workflow/rules/
TOY_DATASETS = {"toy1d", "ring"}
TFD_FOLDS = range(TFD_FOLD_COUNT)
SEEDS = config["seeds"]
# threads of the compute rules: every core given (one such job at a time) or job_threads each
JOB_THREADS = workflow.cores if config["job_threads"] == "all" else config["job_threads"]


DATA_SETTINGS = make_settings(config["data"], raw_dir=Path(paths.RAW), mirror=config["data"]["mirror"] or None)  # as the fetch rule


def skip_reason(dataset):
    """Why a listed dataset cannot run here (None when it can): TFD without its licensed file, or
    a dataset that is neither prepared nor fetchable (no network, no mirror copy)."""
    tfd_file = config["data"]["tfd_file"]
    if dataset == "tfd" and not Path(tfd_file).exists():
        return (f"TFD_48x48.mat not found at {tfd_file} (the Toronto Face Database is licensed and "
                "cannot be downloaded; see docs/datasets.md to place it)")
    if Path(paths.prepared(dataset)).exists():
        return None
    return fetch_unavailable_reason(dataset, DATA_SETTINGS)


SKIPPED = {ds: r for ds in config["datasets"] if (r := skip_reason(ds))}
RUN = [ds for ds in config["datasets"] if ds not in SKIPPED]
IMAGE_RUN = [ds for ds in RUN if ds not in TOY_DATASETS]
for _ds, _reason in SKIPPED.items():
    print(f"[ganrepro] {_ds}: left out: {_reason}", file=sys.stderr)
CUSTOM = config["data"]["custom"]
for _ds in (ds for ds in RUN if ds in CUSTOM):
    _base = config["train"].get(_ds, {}).get("base", DEFAULT_CUSTOM_BASE)
    print(f"[ganrepro] {_ds}: custom dataset from {CUSTOM[_ds]['path']}, trained with train.{_ds} "
          f"over train.{_base}", file=sys.stderr)

wildcard_constraints:
    dataset="[a-z0-9][a-z0-9_-]*",
    seed="[0-9]+",
    variant="(cond_)?",

CM = config["class_metrics"]
CLASS_RUN = [ds for ds in IMAGE_RUN if ds in CM["datasets"]]
CONDITIONAL_RUN = [ds for ds in CLASS_RUN if ds in CM["conditional"]]
CONDITIONAL_SEEDS = SEEDS if CM["conditional_seeds"] == "all" else SEEDS[:1]
SEMISUP_RUN = IMAGE_RUN  # every image set; one without labelled training images records why it did not run
SEMISUP_SKIPPED = {ds: "a toy set: no images to classify" for ds in RUN if ds in TOY_DATASETS}
IP = config["inpaint"]
INPAINT_RUN = [ds for ds in CLASS_RUN if ds in IP["datasets"]]
for _ds in (ds for ds in RUN if ds in IP["datasets"] and ds not in INPAINT_RUN):
    print(f"[ganrepro] {_ds}: no inpainting: it needs labelled images with a classifier "
          "(class_metrics.datasets)", file=sys.stderr)


def print_plan():
    """Before any job: the models this run trains, on which device, and about how long (also in the report)."""
    from ganrepro.training.plan import Job, format_plan, make_plan, write_plan

    pending = [job.wildcards for job in workflow.dag.needrun_jobs() if job.rule.name == "train"]
    jobs = [Job(w.dataset, w.variant, int(w.seed), model_config(w.dataset, w.variant)) for w in pending]
    if jobs:
        estimates = make_plan(jobs, config["data"]["toy_size"])
        print(format_plan(estimates), file=sys.stderr)
        write_plan(Path(paths.plan()), estimates)


def model_config(dataset, variant):
    """The TrainConfig a model trains with: the dataset's merged section, the device, the variant."""
    return train_config(config, dataset).replace(device=config["device"], conditional=variant == paths.CONDITIONAL)


def json_arg(value):
    """A value as one shell-quoted JSON argument (Snakemake reruns a job when it changes)."""
    return shlex.quote(json.dumps(value, sort_keys=True))


def parzen_files(ds):
    """Per-seed Parzen results; TFD has one per fold (averaged over folds, as the paper)."""
    folds = TFD_FOLDS if ds == "tfd" else [None]
    return [paths.parzen(ds, s, fold) for s in SEEDS for fold in folds]


def reference_files(ds, kind):
    """Parzen results of a reference row (kind: reference or kmeans): one file, or one per TFD fold
    (averaged over folds, as the model rows)."""
    return [paths.reference(ds, kind, fold) for fold in (TFD_FOLDS if ds == "tfd" else [""])]


def dataset_figures(ds):
    """The figures of one dataset that ran; each name is its caption's key (workflow/report/<name>.rst)."""
    names = {"toy1d": ["figure1"], "ring": ["modes"]}.get(ds, []) + ["curves"]
    if ds in IMAGE_RUN:
        names += ["figure2", "figure3", "inference", "sigma_sweep"]
    names += ["conditional"] * (ds in CONDITIONAL_RUN)
    names += ["semisupervised"] * (ds in SEMISUP_RUN)
    names += ["inpainting"] * (ds in INPAINT_RUN)  # workflow/rules/inpaint.smk
    return [paths.figure(ds, name) for name in names]


def report_inputs():
    """Everything the report shows: Table 1 and the figures of every dataset that ran."""
    return [paths.table1("md"), *(f for ds in RUN for f in dataset_figures(ds))]


def custom_sources(w):
    """A custom dataset's files: adding or changing one fetches and prepares it again."""
    spec = CUSTOM.get(w.dataset)
    return custom_source_files(spec) if spec else []


def custom_arg(w):
    return f"--custom-json {json_arg(CUSTOM[w.dataset])}" if w.dataset in CUSTOM else ""


def other_networks(w):
    """The networks trained beside a dataset's GANs: the conditional GANs, the classifier the class
    metrics use and the inpainting GAN. They belong to the train stage (DVC versions them with it,
    and its folder persists, so a rerun resumes them)."""
    ds = w.dataset
    models = [paths.model(ds, s, paths.CONDITIONAL) for s in CONDITIONAL_SEEDS] if ds in CONDITIONAL_RUN else []
    models += [paths.classifier(ds)] * (ds in CLASS_RUN)
    models += [paths.inpainter(ds)] * (ds in INPAINT_RUN)
    return models


def valid_limit(w):
    """The validation points that choose sigma: parzen.valid_limit, or TFD's whole fold."""
    return TFD_VALID_LIMIT if w.dataset == "tfd" else VALID_LIMIT


def fold_arg(w):
    return f"--fold {w.fold.removeprefix('_fold')}" if w.fold else ""


def more_draws(ds, seed):
    """The further sample draws scored beside samples.npz (sample.draws in all)."""
    return [paths.samples(ds, seed, draw=k) for k in range(1, config["sample"]["draws"])]


def more_args(input):
    """--more-samples with the further draws (nothing for sample.draws 1)."""
    return " ".join(["--more-samples", *(f"{f}:x" for f in input.more)]) if input.more else ""


def metrics_inputs(w):
    ds = w.dataset
    files = {"train": [paths.train_record(ds, s) for s in SEEDS]}
    if ds in TOY_DATASETS:
        files["toy"] = [paths.toy_metrics(ds, s) for s in SEEDS]
    else:
        files["parzen"] = parzen_files(ds)
        files["reference"] = reference_files(ds, "reference")
        files["kmeans"] = reference_files(ds, "kmeans")
        files["infer"] = [rules.infer.output.metrics.format(dataset=ds, seed=s) for s in SEEDS]
    if ds in CLASS_RUN:
        files["class_metrics"] = [paths.class_metrics(ds, s) for s in SEEDS]
        files["classifier"] = [paths.classifier(ds, "json")]
    if ds in CONDITIONAL_RUN:
        files["conditional"] = [paths.class_metrics(ds, s, paths.CONDITIONAL) for s in CONDITIONAL_SEEDS]
    if ds in SEMISUP_RUN:
        files["semisupervised"] = [paths.semisupervised(ds, SEEDS[0])]
    if ds in INPAINT_RUN:
        files["inpaint"] = [paths.inpaint_metrics(ds)]
    return files


def first_model(w):
    return paths.model(w.dataset, SEEDS[0])


def figure_outputs(dataset, name, category="Figures", **report_args):
    """A figure's PNG (shown in `snakemake --report`, with the caption workflow/report/<name>.rst) and PDF."""
    return {"png": report(paths.figure(dataset, name), caption=f"../report/{name}.rst", category=category,
                          **report_args),
            "pdf": paths.figure(dataset, name, "pdf")}


def figure_prefix(w, output):
    """The prefix the figure commands take: they write PREFIX.png and PREFIX.pdf."""
    return output.png.removesuffix(".png")


def sweep_inputs(w):
    """The Parzen results a sigma-sweep figure draws: the model's and the reference rows' (TFD: fold 0)."""
    ds = w.dataset
    files = parzen_files(ds) + reference_files(ds, "reference") + reference_files(ds, "kmeans")
    return [f for f in files if ds != "tfd" or f.endswith("_fold0.json")]
