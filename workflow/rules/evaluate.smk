# sample (the evaluation samples and further draws), parzen, reference rows (training images and
# their k-means centres), approximate inference, and the per-dataset metrics file DVC tracks.
PZ = config["parzen"]
PARZEN_ARGS = (
    f"--sigma-min-log10 {PZ['sigma_min_log10']} --sigma-max-log10 {PZ['sigma_max_log10']} "
    f"--sigma-num {PZ['sigma_num']} --test-limit {PZ['test_limit']} "
    f"--fine-step {PZ['fine_step']} --sweep-num {PZ['sweep_num']} --device {config['device']}"
)
VALID_LIMIT = f"--valid-limit {PZ['valid_limit']}"
TFD_VALID_LIMIT = "--valid-limit 0"  # the authors' script uses TFD's whole validation fold


def valid_limit(w):
    """The validation points that choose sigma: parzen.valid_limit, or TFD's whole fold."""
    return TFD_VALID_LIMIT if w.dataset == "tfd" else VALID_LIMIT


def reference_files(ds, kind):
    """Parzen results of a reference row (kind: reference or kmeans): one file, or one per TFD fold
    (averaged over folds, as the model rows)."""
    folds = [f"_fold{k}" for k in TFD_FOLDS] if ds == "tfd" else [""]
    return [f"results/runs/{ds}/eval/{kind}_parzen{fold}.json" for fold in folds]


rule sample:
    """samples.npz (seed sample.seed) and, for the Parzen spread, samples_draw<k>.npz (seed + k)."""
    input:
        model="results/runs/{dataset}/train/{variant}s{seed}/model.pt",
    output:
        "results/runs/{dataset}/eval/{variant}s{seed}/samples{draw}.npz",
    wildcard_constraints:
        draw="(_draw[1-9][0-9]*)?",
    params:
        n=config["sample"]["n"],
        seed=lambda w: config["sample"]["seed"] + (int(w.draw.removeprefix("_draw")) if w.draw else 0),
        device=config["device"],
    resources:
        gpu=1,
    log:
        "logs/sample/{dataset}_{variant}s{seed}{draw}.log",
    shell:
        "ganrepro sample --model {input.model} --n {params.n} --seed {params.seed} "
        "--device {params.device} --out {output} 2> {log}"


def more_draws(ds, seed):
    """The further sample draws scored beside samples.npz (sample.draws in all)."""
    return [f"results/runs/{ds}/eval/s{seed}/samples_draw{k}.npz" for k in range(1, config["sample"]["draws"])]


def more_args(input):
    """--more-samples with the further draws (nothing for sample.draws 1)."""
    return " ".join(["--more-samples", *(f"{f}:x" for f in input.more)]) if input.more else ""


rule parzen:
    input:
        samples="results/runs/{dataset}/eval/s{seed}/samples.npz",
        more=lambda w: more_draws(w.dataset, w.seed),
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/s{seed}/parzen.json",
    params:
        args=PARZEN_ARGS,
        valid_limit=VALID_LIMIT,
        more=lambda w, input: more_args(input),
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/{dataset}_s{seed}.log",
    shell:
        "ganrepro parzen --samples {input.samples}:x --valid {input.data}:x_valid --test {input.data}:x_test "
        "--test-labels {input.data}:y_test {params.more} "
        "--out {output} {params.args} {params.valid_limit} --dataset {wildcards.dataset} --seed {wildcards.seed} "
        "--model gan 2> {log}"


rule parzen_tfd_fold:
    input:
        samples="results/runs/tfd/eval/s{seed}/samples.npz",
        more=lambda w: more_draws("tfd", w.seed),
        data="data/prepared/tfd/dataset.npz",
    output:
        "results/runs/tfd/eval/s{seed}/parzen_fold{fold}.json",
    params:
        args=PARZEN_ARGS,
        valid_limit=TFD_VALID_LIMIT,
        more=lambda w, input: more_args(input),
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/tfd_s{seed}_fold{fold}.log",
    shell:
        "ganrepro parzen --samples {input.samples}:x --valid {input.data}:x_valid_fold{wildcards.fold} "
        "--test {input.data}:x_test_fold{wildcards.fold} --test-labels {input.data}:y_test_fold{wildcards.fold} "
        "{params.more} --out {output} {params.args} {params.valid_limit} --dataset tfd "
        "--seed {wildcards.seed} --fold {wildcards.fold} --model gan 2> {log}"


rule parzen_reference:
    """The same protocol with real training images (as many as samples) in place of samples; for TFD
    one file per fold (fold wildcard `_fold<k>`), as the model."""
    input:
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/reference_parzen{fold}.json",
    wildcard_constraints:
        fold="(_fold[0-9]+)?",
    params:
        args=PARZEN_ARGS,
        valid_limit=valid_limit,
        n=config["sample"]["n"],
        fold=lambda w: f"--fold {w.fold.removeprefix('_fold')}" if w.fold else "",
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/{dataset}_reference{fold}.log",
    shell:
        "ganrepro parzen --samples {input.data}:x_train --samples-limit {params.n} "
        "--valid {input.data}:x_valid{wildcards.fold} --test {input.data}:x_test{wildcards.fold} "
        "--test-labels {input.data}:y_test{wildcards.fold} --out {output} {params.args} {params.valid_limit} "
        "--dataset {wildcards.dataset} {params.fold} --model reference 2> {log}"


rule kmeans:
    """k-means centres of the training set, as many as samples: a reference row that outscores real
    images under the Parzen estimator (Theis et al., 2016)."""
    input:
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/kmeans_centres.npz",
    params:
        k=config["sample"]["n"],
        iters=PZ["kmeans_iters"],
        seed=config["sample"]["seed"],
        device=config["device"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=6000,
    log:
        "logs/kmeans/{dataset}.log",
    shell:
        "ganrepro kmeans --data {input.data}:x_train --k {params.k} --iters {params.iters} --seed {params.seed} "
        "--device {params.device} --out {output} 2> {log}"


rule parzen_kmeans:
    """The Parzen protocol with the k-means centres in place of samples (per TFD fold, as the model)."""
    input:
        centres="results/runs/{dataset}/eval/kmeans_centres.npz",
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/kmeans_parzen{fold}.json",
    wildcard_constraints:
        fold="(_fold[0-9]+)?",
    params:
        args=PARZEN_ARGS,
        valid_limit=valid_limit,
        fold=lambda w: f"--fold {w.fold.removeprefix('_fold')}" if w.fold else "",
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/{dataset}_kmeans{fold}.log",
    shell:
        "ganrepro parzen --samples {input.centres}:x --valid {input.data}:x_valid{wildcards.fold} "
        "--test {input.data}:x_test{wildcards.fold} --test-labels {input.data}:y_test{wildcards.fold} --out {output} "
        "{params.args} {params.valid_limit} --dataset {wildcards.dataset} {params.fold} --model kmeans 2> {log}"


rule infer:
    """Learned approximate inference: E(x) ~ z, trained on the frozen generator."""
    input:
        model="results/runs/{dataset}/train/s{seed}/model.pt",
        data="data/prepared/{dataset}/dataset.npz",
    output:
        metrics="results/runs/{dataset}/eval/s{seed}/infer/infer.json",
        encoder="results/runs/{dataset}/eval/s{seed}/infer/encoder.pt",
    params:
        cfg=json_arg(config["infer"]),
        device=config["device"],
    threads: workflow.cores
    resources:
        gpu=1,
    log:
        "logs/infer/{dataset}_s{seed}.log",
    shell:
        "ganrepro infer --model {input.model} --data {input.data} --out-dir results/runs/{wildcards.dataset}/eval/s{wildcards.seed}/infer "
        "--config-json {params.cfg} --device {params.device} 2> {log}"


rule classifier:
    """A small convnet per labelled dataset: the feature space of the classifier FID."""
    input:
        data="data/prepared/{dataset}/dataset.npz",
    output:
        model="results/runs/{dataset}/eval/classifier/classifier.pt",
        metrics="results/runs/{dataset}/eval/classifier/classifier.json",
    params:
        epochs=CM["classifier_epochs"],
        limit=f"--train-limit {CM['classifier_train_limit']}" if CM["classifier_train_limit"] else "",
        device=config["device"],
    threads: workflow.cores
    resources:
        gpu=1,
    log:
        "logs/classifier/{dataset}.log",
    shell:
        "ganrepro classifier --data {input.data} --out-dir results/runs/{wildcards.dataset}/eval/classifier "
        "--epochs {params.epochs} {params.limit} --device {params.device} 2> {log}"


rule class_metrics:
    """Classifier FID (with the real-vs-real reference), class coverage, conditional label accuracy."""
    input:
        classifier="results/runs/{dataset}/eval/classifier/classifier.pt",
        samples="results/runs/{dataset}/eval/{variant}s{seed}/samples.npz",
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/{variant}s{seed}/class_metrics.json",
    params:
        device=config["device"],
    log:
        "logs/class_metrics/{dataset}_{variant}s{seed}.log",
    shell:
        "ganrepro class-metrics --classifier {input.classifier} --samples {input.samples} --data {input.data} "
        "--reference --device {params.device} --out {output} 2> {log}"


def metrics_inputs(w):
    ds = w.dataset
    files = {"train": [f"results/runs/{ds}/train/s{s}/train.json" for s in SEEDS]}
    if ds not in TOY_DATASETS:
        files["parzen"] = parzen_files(ds)
        files["reference"] = reference_files(ds, "reference")
        files["kmeans"] = reference_files(ds, "kmeans")
        files["infer"] = [f"results/runs/{ds}/eval/s{s}/infer/infer.json" for s in SEEDS]
    if ds in CLASS_RUN:
        files["class_metrics"] = [f"results/runs/{ds}/eval/s{s}/class_metrics.json" for s in SEEDS]
        files["classifier"] = [f"results/runs/{ds}/eval/classifier/classifier.json"]
    if ds in CONDITIONAL_RUN:
        files["conditional"] = [f"results/runs/{ds}/eval/cond_s{s}/class_metrics.json" for s in CONDITIONAL_SEEDS]
    return files


rule metrics:
    """One flat json per dataset: what `dvc exp show` compares (mean and spread over seeds)."""
    input:
        unpack(metrics_inputs),
    output:
        "results/runs/{dataset}/metrics.json",
    params:
        files=lambda w, input: " ".join(f"--{k.replace('_', '-')} {' '.join(v)}" for k, v in input.items()),
    shell:
        "ganrepro metrics --dataset {wildcards.dataset} {params.files} --out {output}"
