# sample (the evaluation samples and further draws), parzen, reference rows (training images and
# their k-means centres), approximate inference, class metrics, toy-set metrics, few-label
# classification with the model's features (extension 4), and the per-dataset metrics file DVC tracks.
PZ = config["parzen"]
PARZEN_ARGS = (
    f"--sigma-min-log10 {PZ['sigma_min_log10']} --sigma-max-log10 {PZ['sigma_max_log10']} "
    f"--sigma-num {PZ['sigma_num']} --test-limit {PZ['test_limit']} "
    f"--fine-step {PZ['fine_step']} --sweep-num {PZ['sweep_num']} --device {config['device']}"
)
VALID_LIMIT = f"--valid-limit {PZ['valid_limit']}"
TFD_VALID_LIMIT = "--valid-limit 0"  # the authors' script uses TFD's whole validation fold


rule sample:
    """samples.npz (seed sample.seed) and, for the Parzen spread, samples_draw<k>.npz (seed + k)."""
    input:
        model=rules.train.output.model,
    output:
        paths.samples("{dataset}", "{seed}", "{variant}", "{draw}"),
    wildcard_constraints:
        draw="(_draw[1-9][0-9]*)?",
    params:
        n=config["sample"]["n"],
        seed=lambda w: config["sample"]["seed"] + (int(w.draw.removeprefix("_draw")) if w.draw else 0),
        device=config["device"],
    resources:
        gpu=1,
    log:
        paths.log("sample", "{dataset}_{variant}s{seed}{draw}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro sample --model {input.model} --n {params.n} --seed {params.seed} "
        "--device {params.device} --out {output} 2> {log}"


rule parzen:
    input:
        samples=paths.samples("{dataset}", "{seed}"),
        more=lambda w: more_draws(w.dataset, w.seed),
        data=rules.prepare.output.npz,
    output:
        paths.parzen("{dataset}", "{seed}"),
    params:
        args=PARZEN_ARGS,
        valid_limit=VALID_LIMIT,
        more=lambda w, input: more_args(input),
    threads: JOB_THREADS
    resources:
        mem_mb=6000,
    log:
        paths.log("parzen", "{dataset}_s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro parzen --samples {input.samples}:x --valid {input.data}:x_valid --test {input.data}:x_test "
        "--test-labels {input.data}:y_test {params.more} "
        "--out {output} {params.args} {params.valid_limit} --dataset {wildcards.dataset} --seed {wildcards.seed} "
        "--model gan 2> {log}"


rule parzen_tfd_fold:
    input:
        samples=paths.samples("tfd", "{seed}"),
        more=lambda w: more_draws("tfd", w.seed),
        data=paths.prepared("tfd"),
    output:
        paths.parzen("tfd", "{seed}", "{fold}"),
    params:
        args=PARZEN_ARGS,
        valid_limit=TFD_VALID_LIMIT,
        more=lambda w, input: more_args(input),
    threads: JOB_THREADS
    resources:
        mem_mb=6000,
    log:
        paths.log("parzen", "tfd_s{seed}_fold{fold}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro parzen --samples {input.samples}:x --valid {input.data}:x_valid_fold{wildcards.fold} "
        "--test {input.data}:x_test_fold{wildcards.fold} --test-labels {input.data}:y_test_fold{wildcards.fold} "
        "{params.more} --out {output} {params.args} {params.valid_limit} --dataset tfd "
        "--seed {wildcards.seed} --fold {wildcards.fold} --model gan 2> {log}"


rule parzen_reference:
    """The same protocol with real training images (as many as samples) in place of samples; for TFD
    one file per fold (fold wildcard `_fold<k>`), as the model."""
    input:
        data=rules.prepare.output.npz,
    output:
        paths.reference("{dataset}", "reference", "{fold}"),
    wildcard_constraints:
        fold="(_fold[0-9]+)?",
    params:
        args=PARZEN_ARGS,
        valid_limit=valid_limit,
        n=config["sample"]["n"],
        fold=fold_arg,
    threads: JOB_THREADS
    resources:
        mem_mb=6000,
    log:
        paths.log("parzen", "{dataset}_reference{fold}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro parzen --samples {input.data}:x_train --samples-limit {params.n} "
        "--valid {input.data}:x_valid{wildcards.fold} --test {input.data}:x_test{wildcards.fold} "
        "--test-labels {input.data}:y_test{wildcards.fold} --out {output} {params.args} {params.valid_limit} "
        "--dataset {wildcards.dataset} {params.fold} --model reference 2> {log}"


rule kmeans:
    """k-means centres of the training set, as many as samples: a reference row that outscores real
    images under the Parzen estimator (Theis et al., 2016)."""
    input:
        data=rules.prepare.output.npz,
    output:
        paths.kmeans_centres("{dataset}"),
    params:
        k=config["sample"]["n"],
        iters=PZ["kmeans_iters"],
        seed=config["sample"]["seed"],
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=1,
        mem_mb=6000,
    log:
        paths.log("kmeans", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro kmeans --data {input.data}:x_train --k {params.k} --iters {params.iters} --seed {params.seed} "
        "--device {params.device} --out {output} 2> {log}"


rule parzen_kmeans:
    """The Parzen protocol with the k-means centres in place of samples (per TFD fold, as the model)."""
    input:
        centres=rules.kmeans.output,
        data=rules.prepare.output.npz,
    output:
        paths.reference("{dataset}", "kmeans", "{fold}"),
    wildcard_constraints:
        fold="(_fold[0-9]+)?",
    params:
        args=PARZEN_ARGS,
        valid_limit=valid_limit,
        fold=fold_arg,
    threads: JOB_THREADS
    resources:
        mem_mb=6000,
    log:
        paths.log("parzen", "{dataset}_kmeans{fold}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro parzen --samples {input.centres}:x --valid {input.data}:x_valid{wildcards.fold} "
        "--test {input.data}:x_test{wildcards.fold} --test-labels {input.data}:y_test{wildcards.fold} --out {output} "
        "{params.args} {params.valid_limit} --dataset {wildcards.dataset} {params.fold} --model kmeans 2> {log}"


rule infer:
    """Learned approximate inference: E(x) ~ z, trained on the frozen generator."""
    input:
        model=paths.model("{dataset}", "{seed}"),
        data=rules.prepare.output.npz,
    output:
        metrics=paths.infer_result("{dataset}", "{seed}"),
        encoder=f"{paths.infer_dir('{dataset}', '{seed}')}/encoder.pt",
    params:
        cfg=json_arg(config["infer"]),
        device=config["device"],
        out=lambda w, output: Path(output.metrics).parent,
    threads: JOB_THREADS
    resources:
        gpu=1,
    log:
        paths.log("infer", "{dataset}_s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro infer --model {input.model} --data {input.data} --out-dir {params.out} "
        "--config-json {params.cfg} --device {params.device} 2> {log}"


rule class_metrics:
    """Classifier FID (with the real-vs-real reference), class coverage, conditional label accuracy."""
    input:
        classifier=rules.classifier.output.model,
        samples=paths.samples("{dataset}", "{seed}", "{variant}"),
        data=rules.prepare.output.npz,
    output:
        paths.class_metrics("{dataset}", "{seed}", "{variant}"),
    params:
        device=config["device"],
    log:
        paths.log("class_metrics", "{dataset}_{variant}s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro class-metrics --classifier {input.classifier} --samples {input.samples} --data {input.data} "
        "--reference --device {params.device} --out {output} 2> {log}"


rule toy_metrics:
    """The toy sets' own scores (they have no Parzen row): moments and distances (toy1d), modes (ring)."""
    input:
        samples=paths.samples("{dataset}", "{seed}"),
        data=rules.prepare.output.npz,
    output:
        paths.toy_metrics("{dataset}", "{seed}"),
    wildcard_constraints:
        dataset="|".join(TOY_DATASETS),
    log:
        paths.log("toy_metrics", "{dataset}_s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro toy-metrics --samples {input.samples} --data {input.data} --seed {wildcards.seed} "
        "--out {output} 2> {log}"


rule semisupervised:
    """Extension 4: few-label classification with D's and the inference net's features, and baselines
    (pixels, an untrained D, a D-shaped net trained on the labels alone), on the first seed's model."""
    input:
        model=paths.model("{dataset}", "{seed}"),
        encoder=rules.infer.output.encoder,
        data=rules.prepare.output.npz,
    output:
        paths.semisupervised("{dataset}", "{seed}"),
    params:
        cfg=json_arg(config["semisupervised"]),
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=1,
    log:
        paths.log("semisupervised", "{dataset}_s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro semi-supervised --model {input.model} --encoder {input.encoder} --data {input.data} "
        "--config-json {params.cfg} --device {params.device} --out {output} 2> {log}"


rule metrics:
    """One flat json per dataset: what `dvc exp show` compares (mean and spread over seeds)."""
    input:
        unpack(metrics_inputs),
    output:
        paths.metrics("{dataset}"),
    params:
        files=lambda w, input: " ".join(f"--{k.replace('_', '-')} {' '.join(v)}" for k, v in input.items()),
    log:
        paths.log("metrics", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro metrics --dataset {wildcards.dataset} {params.files} --out {output} 2> {log}"
