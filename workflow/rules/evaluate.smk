# sample (the evaluation samples and further draws), parzen, reference rows, approximate inference,
# and the per-dataset metrics file DVC tracks.
PZ = config["parzen"]
PARZEN_ARGS = (
    f"--sigma-min-log10 {PZ['sigma_min_log10']} --sigma-max-log10 {PZ['sigma_max_log10']} "
    f"--sigma-num {PZ['sigma_num']} --test-limit {PZ['test_limit']} "
    f"--fine-step {PZ['fine_step']} --device {config['device']}"
)
VALID_LIMIT = f"--valid-limit {PZ['valid_limit']}"
TFD_VALID_LIMIT = "--valid-limit 0"  # the authors' script uses TFD's whole validation fold


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


def more_draws(w):
    """The further sample draws scored beside samples.npz (sample.draws in all)."""
    return [f"results/runs/{w.dataset}/eval/s{w.seed}/samples_draw{k}.npz" for k in range(1, config["sample"]["draws"])]


rule parzen:
    input:
        samples="results/runs/{dataset}/eval/s{seed}/samples.npz",
        more=more_draws,
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/s{seed}/parzen.json",
    params:
        args=PARZEN_ARGS,
        valid_limit=VALID_LIMIT,
        more=lambda w, input: " ".join(["--more-samples", *(f"{f}:x" for f in input.more)]) if input.more else "",
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
        data="data/prepared/tfd/dataset.npz",
    output:
        "results/runs/tfd/eval/s{seed}/parzen_fold{fold}.json",
    params:
        args=PARZEN_ARGS,
        valid_limit=TFD_VALID_LIMIT,
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/tfd_s{seed}_fold{fold}.log",
    shell:
        "ganrepro parzen --samples {input.samples}:x --valid {input.data}:x_valid_fold{wildcards.fold} "
        "--test {input.data}:x_test_fold{wildcards.fold} --out {output} {params.args} {params.valid_limit} --dataset tfd "
        "--seed {wildcards.seed} --fold {wildcards.fold} --model gan 2> {log}"


rule parzen_reference:
    """The same protocol with real training images (as many as samples) in place of samples."""
    input:
        data="data/prepared/{dataset}/dataset.npz",
    output:
        "results/runs/{dataset}/eval/reference_parzen.json",
    params:
        args=PARZEN_ARGS,
        valid_limit=lambda w: TFD_VALID_LIMIT if w.dataset == "tfd" else VALID_LIMIT,
        n=config["sample"]["n"],
    threads: workflow.cores
    resources:
        mem_mb=6000,
    log:
        "logs/parzen/{dataset}_reference.log",
    shell:
        "ganrepro parzen --samples {input.data}:x_train --samples-limit {params.n} --valid {input.data}:x_valid "
        "--test {input.data}:x_test --test-labels {input.data}:y_test --out {output} {params.args} "
        "{params.valid_limit} --dataset {wildcards.dataset} --model reference 2> {log}"


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
        files["reference"] = [f"results/runs/{ds}/eval/reference_parzen.json"]
        files["infer"] = [f"results/runs/{ds}/eval/s{s}/infer/infer.json" for s in SEEDS]
    if ds in CLASS_RUN:
        files["class_metrics"] = [f"results/runs/{ds}/eval/s{s}/class_metrics.json" for s in SEEDS]
        files["classifier"] = [f"results/runs/{ds}/eval/classifier/classifier.json"]
    if ds in CONDITIONAL_RUN:
        files["conditional"] = [f"results/runs/{ds}/eval/cond_s{s}/class_metrics.json" for s in SEEDS]
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
