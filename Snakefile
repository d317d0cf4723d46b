# The DAG of the reproduction. Parameters: params.yaml (validated against
# workflow/schemas/params.schema.yaml before any job runs). Every rule runs one `ganrepro <step>`.
#   snakemake --cores all                                   the paper (default params)
#   snakemake --cores all --configfile workflow/presets/fast.yaml   the whole DAG in minutes
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "params.yaml"


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        [f"results/runs/{ds}/{f}" for ds in config["datasets"] for f in ("metrics.json", "train_summary.json")],
        report_inputs(),
        "results/report.html",
    default_target: True
