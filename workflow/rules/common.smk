# Shared definitions: which datasets run, which are skipped and why, and per-dataset file lists.
import json
import os
import shlex
import sys
from pathlib import Path

from ganrepro import paths
from ganrepro.config import DEFAULT_CUSTOM_BASE, train_config
from ganrepro.data.datasets import TFD_FOLDS as TFD_FOLD_COUNT
from ganrepro.data.datasets import custom_source_files, fetch_unavailable_reason, make_settings

# Jobs find `ganrepro` beside the Python running Snakemake (the project's .venv), activated or not.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

TOY_DATASETS = {"toy1d", "ring"}
TFD_FOLDS = range(TFD_FOLD_COUNT)
SEEDS = config["seeds"]


DATA_SETTINGS = make_settings(config["data"], raw_dir=Path("data/raw"), mirror=config["data"]["mirror"] or None)  # as the fetch rule


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


def print_plan():
    """Before any job: the models this run trains, on which device, and about how long (also in the report)."""
    from ganrepro.training.plan import Job, format_plan, make_plan, write_plan

    pending = [job.wildcards for job in workflow.dag.needrun_jobs() if job.rule.name == "train"]
    jobs = [Job(w.dataset, w.variant, int(w.seed), train_config(config, w.dataset) | {"device": config["device"]})
            for w in pending]
    if jobs:
        estimates = make_plan(jobs, config["data"]["toy_size"])
        print(format_plan(estimates), file=sys.stderr)
        write_plan(Path(paths.plan()), estimates)


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


def report_inputs():
    """Everything the report shows: Table 1 and the figures of every dataset that ran."""
    names = ["figure1_toy1d"] * ("toy1d" in RUN) + ["ring_modes"] * ("ring" in RUN)
    names += [f"curves_{ds}" for ds in RUN]
    for ds in IMAGE_RUN:
        names += [f"figure2_{ds}", f"figure3_{ds}", f"inference_{ds}", f"sigma_sweep_{ds}"]
    names += [f"conditional_{ds}" for ds in CONDITIONAL_RUN]
    return [paths.table1("md"), *(paths.figure(name) for name in names)]
