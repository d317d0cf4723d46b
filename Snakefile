# The DAG of the reproduction. Parameters: params.yaml, its preset and the command line's overrides,
# merged and validated by ganrepro.config before any job runs. Every rule runs one `ganrepro <step>`.
#   snakemake --cores all                        the paper (default params)
#   snakemake --cores all --config preset=fast   the whole DAG in minutes
from snakemake.utils import min_version

from ganrepro.config import overlays, resolve
from ganrepro.errors import UserError

min_version("9.0")


envvars:
    "PATH",  # jobs find `ganrepro` beside the Python that runs Snakemake (workflow/rules/common.smk)


configfile: "params.yaml"


try:
    _settings = workflow.config_settings
    _resolved = resolve("params.yaml", overlays(_settings.configfiles, _settings.config))
except UserError as err:
    raise SystemExit(f"ganrepro: error in the parameters: {err}") from None
config.clear()
config.update(_resolved)


onstart:
    print_plan()


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/inpaint.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        [f(ds) for ds in config["datasets"] for f in (paths.metrics, paths.train_summary, paths.figure_index)],
        report_inputs(),
        paths.report(),
    default_target: True
