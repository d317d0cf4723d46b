# Per dataset, into results/figures/<dataset>/ (the evaluate stage's): Figures 1-3, training curves,
# sigma sweeps and the extensions' figures, as PNG and PDF, and index.md listing them with captions.
FIG = config["figures"]


rule figure1_toy1d:
    input:
        model=paths.model("toy1d", SEEDS[0]),
        data=paths.prepared("toy1d"),
    output:
        **figure_outputs("toy1d", "figure1"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "figure1"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure toy1d --model {input.model} --data {input.data} --out {params.out} 2> {log}"


rule figure_ring:
    input:
        samples=paths.samples("ring", SEEDS[0]),
        data=paths.prepared("ring"),
    output:
        **figure_outputs("ring", "modes"),
        json=paths.figure("ring", "modes", "json"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "ring"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure ring --samples {input.samples} --data {input.data} --out {params.out} "
        "--metrics-out {output.json} 2> {log}"


rule figure2_samples:
    input:
        model=first_model,
        data=rules.prepare.output.npz,
    output:
        **figure_outputs("{dataset}", "figure2", subcategory="{dataset}"),
    params:
        rows=FIG["grid_rows"],
        cols=FIG["grid_cols"],
        out=figure_prefix,
    log:
        paths.log("figures", "figure2_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure samples --model {input.model} --data {input.data} --rows {params.rows} "
        "--cols {params.cols} --out {params.out} 2> {log}"


rule figure3_interpolation:
    input:
        model=first_model,
    output:
        **figure_outputs("{dataset}", "figure3", subcategory="{dataset}"),
    params:
        rows=FIG["interp_rows"],
        steps=FIG["interp_steps"],
        out=figure_prefix,
    log:
        paths.log("figures", "figure3_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure interp --model {input.model} --rows {params.rows} --steps {params.steps} "
        "--out {params.out} 2> {log}"


rule figure_inference:
    input:
        model=first_model,
        encoder=lambda w: rules.infer.output.encoder.format(dataset=w.dataset, seed=SEEDS[0]),
        data=rules.prepare.output.npz,
    output:
        **figure_outputs("{dataset}", "inference", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "inference_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure reconstruct --model {input.model} --encoder {input.encoder} --data {input.data} "
        "--out {params.out} 2> {log}"


rule figure_conditional:
    input:
        model=lambda w: paths.model(w.dataset, SEEDS[0], paths.CONDITIONAL),
    output:
        **figure_outputs("{dataset}", "conditional", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "conditional_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro conditional-figure --model {input.model} --out {params.out} 2> {log}"


rule figure_sigma_sweep:
    """Validation log-likelihood against sigma: the paper's grid, its choice and the fine grid's."""
    input:
        parzen=sweep_inputs,
    output:
        **figure_outputs("{dataset}", "sigma_sweep", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "sigma_sweep_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure sigma-sweep --parzen {input.parzen} --out {params.out} 2> {log}"


rule figure_curves:
    input:
        logs=lambda w: [paths.train_log(w.dataset, s) for s in SEEDS],
        summaries=lambda w: [paths.train_record(w.dataset, s) for s in SEEDS],
        parzen=lambda w: parzen_files(w.dataset) if w.dataset not in TOY_DATASETS else [],
    output:
        **figure_outputs("{dataset}", "curves", category="Training", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "curves_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure curves --logs {input.logs} --summaries {input.summaries} --parzen {input.parzen} "
        "--out {params.out} 2> {log}"


rule figure_semisupervised:
    """Test errors against the number of labels, one line per method (extension 4)."""
    input:
        lambda w: paths.semisupervised(w.dataset, SEEDS[0]),
    output:
        **figure_outputs("{dataset}", "semisupervised", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "semisupervised_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure semi-supervised --result {input} --out {params.out} 2> {log}"


rule figure_index:
    """The dataset's figures with their captions, as Markdown (a page to browse, and the evaluate
    stage's target for them)."""
    input:
        lambda w: dataset_figures(w.dataset),
    output:
        paths.figure_index("{dataset}"),
    log:
        paths.log("figures", "index_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure-index --dataset {wildcards.dataset} --figures {input} --out {output} 2> {log}"
