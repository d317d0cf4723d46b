# fetch -> prepare: verified raw files, then one .npz per dataset with the paper's splits.


rule fetch:
    output:
        "data/raw/{dataset}/MANIFEST.json",
    params:
        mirror=lambda w: f"--mirror {shlex.quote(config['data']['mirror'])}" if config["data"]["mirror"] else "",
        tfd_file=config["data"]["tfd_file"],
    log:
        "logs/fetch/{dataset}.log",
    shell:
        "ganrepro fetch {wildcards.dataset} --raw-dir data/raw {params.mirror} "
        "--tfd-file {params.tfd_file} > {log} 2>&1"


rule prepare:
    input:
        "data/raw/{dataset}/MANIFEST.json",
    output:
        npz="data/prepared/{dataset}/dataset.npz",
        info="data/prepared/{dataset}/info.json",
    params:
        toy_size=config["data"]["toy_size"],
        tfd_file=config["data"]["tfd_file"],
    log:
        "logs/prepare/{dataset}.log",
    shell:
        "ganrepro prepare {wildcards.dataset} --raw-dir data/raw --out {output.npz} --info-out {output.info} "
        "--toy-size {params.toy_size} --tfd-file {params.tfd_file} > {log} 2>&1"


if SKIPPED:

    ruleorder: not_run > prepare
    ruleorder: not_run > train_summary
    ruleorder: not_run > metrics

    rule not_run:
        """A listed dataset that cannot run here: every stage's output says why, nothing fails."""
        output:
            "data/prepared/{dataset}/info.json",
            "results/runs/{dataset}/train/NOT_RUN.json",
            "results/runs/{dataset}/eval/NOT_RUN.json",
            "results/runs/{dataset}/train_summary.json",
            "results/runs/{dataset}/train_curves.csv",
            "results/runs/{dataset}/metrics.json",
        wildcard_constraints:
            dataset="|".join(SKIPPED),
        params:
            reason=lambda w: shlex.quote(SKIPPED[w.dataset]),
        shell:
            "ganrepro not-run --dataset {wildcards.dataset} --reason {params.reason} --out {output}"
