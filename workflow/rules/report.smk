# Table 1 (Markdown, CSV, LaTeX, JSON) and the self-contained HTML report of every dataset that ran.


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
