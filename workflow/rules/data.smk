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
        paths.manifest("{dataset}"),
    params:
        raw=paths.RAW,
        custom=custom_arg,
        mirror=lambda w: f"--mirror {shlex.quote(config['data']['mirror'])}" if config["data"]["mirror"] else "",
        tfd_file=config["data"]["tfd_file"],
    log:
        paths.log("fetch", "{dataset}"),
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
        raw=paths.RAW,
        custom=custom_arg,
        toy_size=config["data"]["toy_size"],
        tfd_file=config["data"]["tfd_file"],
    log:
        paths.log("prepare", "{dataset}"),
    shell:
        "ganrepro prepare {wildcards.dataset} --raw-dir {params.raw} --out {output.npz} --info-out {output.info} "
        "--toy-size {params.toy_size} --tfd-file {params.tfd_file} {params.custom} > {log} 2>&1"


if SKIPPED:

    ruleorder: not_run > prepare
    ruleorder: not_run > train_summary
    ruleorder: not_run > metrics

    rule not_run:
        """A listed dataset that cannot run here: every stage's output says why, nothing fails."""
        output:
            paths.prepared_info("{dataset}"),
            paths.not_run("{dataset}", "train"),
            paths.not_run("{dataset}", "eval"),
            paths.train_summary("{dataset}"),
            paths.train_curves("{dataset}"),
            paths.metrics("{dataset}"),
        wildcard_constraints:
            dataset="|".join(SKIPPED),
        params:
            reason=lambda w: shlex.quote(SKIPPED[w.dataset]),
        shell:
            "ganrepro not-run --dataset {wildcards.dataset} --reason {params.reason} --out {output}"
