# fetch -> prepare: verified raw files, then one .npz per dataset with the paper's splits.


rule fetch:
    input:
        custom_sources,
    output:
        paths.manifest("{dataset}"),
    params:
        raw=lambda w, output: Path(output[0]).parent.parent,
        custom=custom_arg,
        mirror=lambda w: f"--mirror {shlex.quote(config['data']['mirror'])}" if config["data"]["mirror"] else "",
        tfd_file=config["data"]["tfd_file"],
    log:
        paths.log("fetch", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro fetch {wildcards.dataset} --raw-dir {params.raw} {params.mirror} {params.custom} "
        "--tfd-file {params.tfd_file} > {log} 2>&1"


rule prepare:
    input:
        rules.fetch.output,
    output:
        npz=paths.prepared("{dataset}"),
        info=paths.prepared_info("{dataset}"),
    params:
        raw=lambda w, input: Path(input[0]).parent.parent,
        custom=custom_arg,
        toy_size=config["data"]["toy_size"],
        tfd_file=config["data"]["tfd_file"],
    log:
        paths.log("prepare", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro prepare {wildcards.dataset} --raw-dir {params.raw} --out {output.npz} --info-out {output.info} "
        "--toy-size {params.toy_size} --tfd-file {params.tfd_file} {params.custom} > {log} 2>&1"


if SKIPPED:

    ruleorder: not_run_data > prepare
    ruleorder: not_run_train > train_summary
    ruleorder: not_run_eval > metrics
    ruleorder: not_run_eval > figure_index

    rule not_run_data:
        """A listed dataset that cannot run here: each stage's outputs say why, nothing fails (one rule
        per DVC stage, so that no stage writes into another's outputs)."""
        output:
            paths.prepared_info("{dataset}"),
        wildcard_constraints:
            dataset="|".join(SKIPPED),
        params:
            reason=lambda w: shlex.quote(SKIPPED[w.dataset]),
        log:
            paths.log("not_run", "{dataset}_data"),
        conda:
            CONDA_ENV
        shell:
            "ganrepro not-run --dataset {wildcards.dataset} --reason {params.reason} --out {output} 2> {log}"

    use rule not_run_data as not_run_train with:
        output:
            paths.not_run("{dataset}", "train"),
            paths.train_summary("{dataset}"),
            paths.train_curves("{dataset}"),
        log:
            paths.log("not_run", "{dataset}_train"),

    use rule not_run_data as not_run_eval with:
        output:
            paths.not_run("{dataset}", "eval"),
            paths.metrics("{dataset}"),
            paths.figure_index("{dataset}"),
        log:
            paths.log("not_run", "{dataset}_eval"),
