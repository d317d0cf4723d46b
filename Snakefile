# The DAG of the reproduction. Parameters: params.yaml, its preset and the command line's overrides,
# merged and validated by ganrepro.config before any job runs. Every rule runs one `ganrepro <step>`.
#   snakemake --cores all                        the paper (default params)
#   snakemake --cores all --config preset=fast   the whole DAG in minutes
from snakemake.utils import min_version

from ganrepro.config import resolve
from ganrepro.errors import UserError

min_version("9.0")


configfile: "params.yaml"


def _overlays():
    """--configfile overlays, then --config, as (label, mapping) for error messages."""
    from snakemake.common.configfile import load_configfile

    settings = workflow.config_settings
    files = [(str(f), load_configfile(f)) for f in settings.configfiles]
    return files + ([("--config", dict(settings.config))] if settings.config else [])


try:
    _resolved = resolve("params.yaml", _overlays())
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
include: "workflow/rules/report.smk"


rule all:
    input:
        [f(ds) for ds in config["datasets"] for f in (paths.metrics, paths.train_summary)],
        report_inputs(),
        paths.report(),
    default_target: True
