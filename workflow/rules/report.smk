# Figures 1-3, training curves, Table 1 and the HTML report. Figures come as PNG and PDF.
FIG = config["figures"]


def first_model(w):
    return f"results/runs/{w.dataset}/train/s{SEEDS[0]}/model.pt"


rule figure1_toy1d:
    input:
        model=f"results/runs/toy1d/train/s{SEEDS[0]}/model.pt",
        data="data/prepared/toy1d/dataset.npz",
    output:
        png=report("results/figures/figure1_toy1d.png", caption="../report/figure1.rst", category="Figures"),
        pdf="results/figures/figure1_toy1d.pdf",
    log:
        "logs/figures/figure1.log",
    shell:
        "ganrepro figure toy1d --model {input.model} --data {input.data} --out results/figures/figure1_toy1d 2> {log}"


rule figure_ring:
    input:
        samples=f"results/runs/ring/eval/s{SEEDS[0]}/samples.npz",
        data="data/prepared/ring/dataset.npz",
    output:
        png=report("results/figures/ring_modes.png", caption="../report/ring.rst", category="Figures"),
        pdf="results/figures/ring_modes.pdf",
        json="results/figures/ring_modes.json",
    log:
        "logs/figures/ring.log",
    shell:
        "ganrepro figure ring --samples {input.samples} --data {input.data} --out results/figures/ring_modes "
        "--metrics-out {output.json} 2> {log}"


rule figure2_samples:
    input:
        model=first_model,
        data="data/prepared/{dataset}/dataset.npz",
    output:
        png=report("results/figures/figure2_{dataset}.png", caption="../report/figure2.rst", category="Figures",
                   subcategory="{dataset}"),
        pdf="results/figures/figure2_{dataset}.pdf",
    params:
        rows=FIG["grid_rows"],
        cols=FIG["grid_cols"],
    log:
        "logs/figures/figure2_{dataset}.log",
    shell:
        "ganrepro figure samples --model {input.model} --data {input.data} --rows {params.rows} "
        "--cols {params.cols} --out results/figures/figure2_{wildcards.dataset} 2> {log}"


rule figure3_interpolation:
    input:
        model=first_model,
    output:
        png=report("results/figures/figure3_{dataset}.png", caption="../report/figure3.rst", category="Figures",
                   subcategory="{dataset}"),
        pdf="results/figures/figure3_{dataset}.pdf",
    params:
        rows=FIG["interp_rows"],
        steps=FIG["interp_steps"],
    log:
        "logs/figures/figure3_{dataset}.log",
    shell:
        "ganrepro figure interp --model {input.model} --rows {params.rows} --steps {params.steps} "
        "--out results/figures/figure3_{wildcards.dataset} 2> {log}"


rule figure_inference:
    input:
        model=first_model,
        encoder=lambda w: f"results/runs/{w.dataset}/eval/s{SEEDS[0]}/infer/encoder.pt",
        data="data/prepared/{dataset}/dataset.npz",
    output:
        png=report("results/figures/inference_{dataset}.png", caption="../report/inference.rst",
                   category="Figures", subcategory="{dataset}"),
        pdf="results/figures/inference_{dataset}.pdf",
    log:
        "logs/figures/inference_{dataset}.log",
    shell:
        "ganrepro figure reconstruct --model {input.model} --encoder {input.encoder} --data {input.data} "
        "--out results/figures/inference_{wildcards.dataset} 2> {log}"


rule figure_conditional:
    input:
        model=lambda w: f"results/runs/{w.dataset}/train/cond_s{SEEDS[0]}/model.pt",
    output:
        png=report("results/figures/conditional_{dataset}.png", caption="../report/conditional.rst",
                   category="Figures", subcategory="{dataset}"),
        pdf="results/figures/conditional_{dataset}.pdf",
    log:
        "logs/figures/conditional_{dataset}.log",
    shell:
        "ganrepro conditional-figure --model {input.model} --out results/figures/conditional_{wildcards.dataset} 2> {log}"


def sweep_inputs(w):
    """The Parzen results a sigma-sweep figure draws: the model's and the reference rows' (TFD: fold 0)."""
    ds = w.dataset
    files = parzen_files(ds) + reference_files(ds, "reference") + reference_files(ds, "kmeans")
    return [f for f in files if ds != "tfd" or f.endswith("_fold0.json")]


rule figure_sigma_sweep:
    """Validation log-likelihood against sigma: the paper's grid, its choice and the fine grid's."""
    input:
        parzen=sweep_inputs,
    output:
        png=report("results/figures/sigma_sweep_{dataset}.png", caption="../report/sigma_sweep.rst",
                   category="Figures", subcategory="{dataset}"),
        pdf="results/figures/sigma_sweep_{dataset}.pdf",
    log:
        "logs/figures/sigma_sweep_{dataset}.log",
    shell:
        "ganrepro figure sigma-sweep --parzen {input.parzen} --out results/figures/sigma_sweep_{wildcards.dataset} "
        "2> {log}"


rule figure_curves:
    input:
        logs=lambda w: [f"results/runs/{w.dataset}/train/s{s}/train_log.csv" for s in SEEDS],
        summaries=lambda w: [f"results/runs/{w.dataset}/train/s{s}/train.json" for s in SEEDS],
        parzen=lambda w: parzen_files(w.dataset) if w.dataset not in TOY_DATASETS else [],
    output:
        png=report("results/figures/curves_{dataset}.png", caption="../report/curves.rst", category="Training",
                   subcategory="{dataset}"),
        pdf="results/figures/curves_{dataset}.pdf",
    log:
        "logs/figures/curves_{dataset}.log",
    shell:
        "ganrepro figure curves --logs {input.logs} --summaries {input.summaries} --parzen {input.parzen} "
        "--out results/figures/curves_{wildcards.dataset} 2> {log}"


rule table1:
    input:
        parzen=[f for ds in IMAGE_RUN for f in parzen_files(ds)],
        reference=[f for ds in IMAGE_RUN for f in reference_files(ds, "reference")],
        kmeans=[f for ds in IMAGE_RUN for f in reference_files(ds, "kmeans")],
        metrics=[f"results/runs/{ds}/metrics.json" for ds in config["datasets"]],
    output:
        md=report("results/table1/table1.md", caption="../report/table1.rst", category="Table 1"),
        csv="results/table1/table1.csv",
        tex="results/table1/table1.tex",
        json="results/table1/table1.json",
        extended=report("results/table1/table1_extended.md", caption="../report/table1.rst", category="Table 1"),
    params:
        skipped=("--skipped " + " ".join(shlex.quote(f"{ds}={r}") for ds, r in SKIPPED.items())) if SKIPPED else "",
        cfg=json_arg(config),
    log:
        "logs/table1.log",
    shell:
        "ganrepro table --parzen {input.parzen} --reference {input.reference} --kmeans {input.kmeans} "
        "--metrics {input.metrics} {params.skipped} --config-json {params.cfg} --params params.yaml "
        "--out-dir results/table1 2> {log}"


# The report's inputs: report_inputs() and the sigma sweeps (once, should report_inputs() list them too).
REPORT_INPUTS = list(dict.fromkeys(report_inputs() + [f"results/figures/sigma_sweep_{ds}.png" for ds in IMAGE_RUN]))


rule report:
    input:
        REPORT_INPUTS,
    output:
        "results/report.html",
    params:
        cfg=json_arg(config),
        figures=[f for f in REPORT_INPUTS if f.endswith(".png")],
    log:
        "logs/report.log",
    shell:
        "ganrepro report --results results --config-json {params.cfg} --figures {params.figures} --out {output} 2> {log}"
