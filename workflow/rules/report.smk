# Figures 1-3, training curves, sigma sweeps, Table 1 and the HTML report. Figures come as PNG and PDF.
FIG = config["figures"]


rule figure1_toy1d:
    input:
        model=paths.model("toy1d", SEEDS[0]),
        data=paths.prepared("toy1d"),
    output:
        **figure_outputs("figure1_toy1d", "figure1"),
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
        **figure_outputs("ring_modes", "ring"),
        json=paths.figure("ring_modes", "json"),
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
        **figure_outputs("figure2_{dataset}", "figure2", subcategory="{dataset}"),
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
        **figure_outputs("figure3_{dataset}", "figure3", subcategory="{dataset}"),
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
        **figure_outputs("inference_{dataset}", "inference", subcategory="{dataset}"),
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
        **figure_outputs("conditional_{dataset}", "conditional", subcategory="{dataset}"),
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
        **figure_outputs("sigma_sweep_{dataset}", "sigma_sweep", subcategory="{dataset}"),
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
        **figure_outputs("curves_{dataset}", "curves", category="Training", subcategory="{dataset}"),
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
        **figure_outputs("semisupervised_{dataset}", "semisupervised", subcategory="{dataset}"),
    params:
        out=figure_prefix,
    log:
        paths.log("figures", "semisupervised_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro figure semi-supervised --result {input} --out {params.out} 2> {log}"


rule table1:
    input:
        parzen=[f for ds in IMAGE_RUN for f in parzen_files(ds)],
        reference=[f for ds in IMAGE_RUN for f in reference_files(ds, "reference")],
        kmeans=[f for ds in IMAGE_RUN for f in reference_files(ds, "kmeans")],
        metrics=[paths.metrics(ds) for ds in config["datasets"]],
        semisupervised=[paths.semisupervised(ds, SEEDS[0]) for ds in SEMISUP_RUN],
    output:
        md=report(paths.table1("md"), caption="../report/table1.rst", category="Table 1"),
        csv=paths.table1("csv"),
        tex=paths.table1("tex"),
        json=paths.table1("json"),
        extended=report(paths.table1("md", "table1_extended"), caption="../report/table1.rst", category="Table 1"),
        semisupervised=paths.table1("md", "semisupervised"),
        semisupervised_csv=paths.table1("csv", "semisupervised"),
    params:
        skipped=("--skipped " + " ".join(shlex.quote(f"{ds}={r}") for ds, r in SKIPPED.items())) if SKIPPED else "",
        cfg=json_arg(config),
        out=lambda w, output: Path(output.md).parent,
    log:
        paths.log("report", "table1"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro table --parzen {input.parzen} --reference {input.reference} --kmeans {input.kmeans} "
        "--metrics {input.metrics} --semisupervised {input.semisupervised} {params.skipped} "
        "--config-json {params.cfg} --params params.yaml --out-dir {params.out} 2> {log}"


rule report:
    input:
        report_inputs(),
    output:
        paths.report(),
    params:
        cfg=json_arg(config),
        figures=[f for f in report_inputs() if f.endswith(".png")],
        semisup_skipped=" ".join(shlex.quote(f"{ds}={r}") for ds, r in SEMISUP_SKIPPED.items()),
        results=lambda w, output: Path(output[0]).parent,
    log:
        paths.log("report", "report"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro report --results {params.results} --config-json {params.cfg} --figures {params.figures} "
        "--semisupervised-skipped {params.semisup_skipped} --out {output} 2> {log}"
