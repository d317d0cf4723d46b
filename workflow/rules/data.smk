# fetch -> prepare: verified raw files, then one .npz per dataset with the paper's splits.


def custom_sources(w):
    """A custom dataset's files: adding or changing one fetches and prepares it again."""
    spec = CUSTOM.get(w.dataset)
    return custom_source_files(spec) if spec else []


def custom_arg(w):
    return f"--custom-json {json_arg(CUSTOM[w.dataset])}" if w.dataset in CUSTOM else ""


rule fetch:
    input:
        custom_sources,
    output:
        "data/raw/{dataset}/MANIFEST.json",
    params:
        custom=custom_arg,
        mirror=lambda w: f"--mirror {shlex.quote(config['data']['mirror'])}" if config["data"]["mirror"] else "",
        tfd_file=config["data"]["tfd_file"],
    log:
        "logs/fetch/{dataset}.log",
    shell:
        "ganrepro fetch {wildcards.dataset} --raw-dir data/raw {params.mirror} {params.custom} "
        "--tfd-file {params.tfd_file} > {log} 2>&1"


rule prepare:
    input:
        "data/raw/{dataset}/MANIFEST.json",
    output:
        npz="data/prepared/{dataset}/dataset.npz",
        info="data/prepared/{dataset}/info.json",
    params:
        custom=custom_arg,
        toy_size=config["data"]["toy_size"],
        tfd_file=config["data"]["tfd_file"],
    log:
        "logs/prepare/{dataset}.log",
    shell:
        "ganrepro prepare {wildcards.dataset} --raw-dir data/raw --out {output.npz} --info-out {output.info} "
        "--toy-size {params.toy_size} --tfd-file {params.tfd_file} {params.custom} > {log} 2>&1"


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
