# train: one GAN per dataset, seed and variant ("" = the paper's model, "cond_" = the
# conditional GAN p(x | c)); a rerun resumes from the run's checkpoint.pt.


rule train:
    input:
        data="data/prepared/{dataset}/dataset.npz",
    output:
        model="results/runs/{dataset}/train/{variant}s{seed}/model.pt",
        summary="results/runs/{dataset}/train/{variant}s{seed}/train.json",
        log_csv="results/runs/{dataset}/train/{variant}s{seed}/train_log.csv",
    params:
        cfg=lambda w: json_arg(train_config(config, w.dataset)
                               | {"device": config["device"], "conditional": w.variant == "cond_"}),
        out=lambda w: f"results/runs/{w.dataset}/train/{w.variant}s{w.seed}",
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=24 * 60,
    log:
        "logs/train/{dataset}_{variant}s{seed}.log",
    shell:
        "ganrepro train {wildcards.dataset} --data {input.data} --out {params.out} --seed {wildcards.seed} "
        "--config-json {params.cfg} --if-changed restart 2> {log}"


def conditional_models(w):
    """The conditional GANs belong to the training stage too (DVC versions them with it)."""
    return [f"results/runs/{w.dataset}/train/cond_s{s}/model.pt" for s in CONDITIONAL_SEEDS] if w.dataset in CONDITIONAL_RUN else []


rule train_summary:
    """All seeds of one dataset: the training metrics and curves DVC tracks."""
    input:
        summaries=lambda w: [f"results/runs/{w.dataset}/train/s{s}/train.json" for s in SEEDS],
        logs=lambda w: [f"results/runs/{w.dataset}/train/s{s}/train_log.csv" for s in SEEDS],
        conditional=conditional_models,
    output:
        summary="results/runs/{dataset}/train_summary.json",
        curves="results/runs/{dataset}/train_curves.csv",
    shell:
        "ganrepro metrics --dataset {wildcards.dataset} --train {input.summaries} --logs {input.logs} "
        "--curves-out {output.curves} --out {output.summary}"
