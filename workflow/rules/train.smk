# train: one GAN per dataset, seed and variant ("" = the paper's model, "cond_" = the
# conditional GAN p(x | c)); a rerun resumes from the run's checkpoint.pt. The train stage also
# holds the dataset's other networks (common.smk: other_networks): the classifier below and the
# inpainting GAN (inpaint.smk), so that evaluation never retrains them.


rule train:
    input:
        data=rules.prepare.output.npz,
    output:
        model=paths.model("{dataset}", "{seed}", "{variant}"),
        summary=paths.train_record("{dataset}", "{seed}", "{variant}"),
        log_csv=paths.train_log("{dataset}", "{seed}", "{variant}"),
    params:
        cfg=lambda w: json_arg(model_config(w.dataset, w.variant).as_dict()),
        out=lambda w, output: Path(output.model).parent,
    threads: JOB_THREADS
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=24 * 60,
    log:
        paths.log("train", "{dataset}_{variant}s{seed}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro train {wildcards.dataset} --data {input.data} --out {params.out} --seed {wildcards.seed} "
        "--config-json {params.cfg} --if-changed restart 2> {log}"


rule train_summary:
    """All seeds of one dataset: the training metrics and curves DVC tracks."""
    input:
        summaries=lambda w: [paths.train_record(w.dataset, s) for s in SEEDS],
        logs=lambda w: [paths.train_log(w.dataset, s) for s in SEEDS],
        networks=other_networks,
    output:
        summary=paths.train_summary("{dataset}"),
        curves=paths.train_curves("{dataset}"),
    log:
        paths.log("train_summary", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro metrics --dataset {wildcards.dataset} --train {input.summaries} --logs {input.logs} "
        "--curves-out {output.curves} --out {output.summary} 2> {log}"


rule classifier:
    """A small convnet per labelled dataset: the feature space of the classifier FID, and the judge
    of the inpainting GAN's validation checks."""
    input:
        data=rules.prepare.output.npz,
    output:
        model=paths.classifier("{dataset}"),
        metrics=paths.classifier("{dataset}", "json"),
    params:
        epochs=CM["classifier_epochs"],
        limit=f"--train-limit {CM['classifier_train_limit']}" if CM["classifier_train_limit"] else "",
        device=config["device"],
        out=lambda w, output: Path(output.model).parent,
    threads: JOB_THREADS
    resources:
        gpu=1,
    log:
        paths.log("classifier", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro classifier --data {input.data} --out-dir {params.out} "
        "--epochs {params.epochs} {params.limit} --device {params.device} 2> {log}"
