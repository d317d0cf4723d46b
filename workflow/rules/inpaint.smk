# Inpainting (the paper's third extension): one conditional GAN for every mask of the family, per
# labelled image dataset listed under inpaint.datasets (INPAINT_RUN, common.smk); trained with
# validation checks that use the dataset's classifier (with the other networks, in the train stage),
# scored on test images against mean and nearest-neighbour fill, and drawn.


rule inpaint_train:
    """A rerun resumes from checkpoint.pt in the output folder (not an output, so Snakemake keeps it);
    one made with other non-budget parameters is discarded (--if-changed restart)."""
    input:
        data=rules.prepare.output.npz,
        classifier=rules.classifier.output.model,
    output:
        model=paths.inpainter("{dataset}"),
        record=f"{paths.inpaint_dir('{dataset}')}/train.json",
        curve=f"{paths.inpaint_dir('{dataset}')}/valid_curve.csv",
    params:
        cfg=lambda w: json_arg(model_config(w.dataset, "").as_dict() | IP["train"]),  # the paper's networks and optimizer
        seed=IP["seed"],
        completions=IP["completions"],
        out=lambda w, output: Path(output.model).parent,
    threads: JOB_THREADS
    resources:
        gpu=1,
        mem_mb=8000,
    log:
        paths.log("inpaint_train", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro inpaint-train {wildcards.dataset} --data {input.data} --classifier {input.classifier} "
        "--out-dir {params.out} --config-json {params.cfg} --seed {params.seed} "
        "--completions {params.completions} --if-changed restart 2> {log}"


rule inpaint_eval:
    input:
        model=rules.inpaint_train.output.model,
        data=rules.prepare.output.npz,
        classifier=rules.classifier.output.model,
    output:
        paths.inpaint_metrics("{dataset}"),
    params:
        completions=IP["completions"],
        points=IP["eval_points"],
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=1,
    log:
        paths.log("inpaint_eval", "{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro inpaint-eval --model {input.model} --data {input.data} --classifier {input.classifier} "
        "--completions {params.completions} --points {params.points} --device {params.device} "
        "--out {output} 2> {log}"


rule inpaint_figure:
    input:
        model=rules.inpaint_train.output.model,
        data=rules.prepare.output.npz,
    output:
        **figure_outputs("{dataset}", "inpainting", subcategory="{dataset}"),
    params:
        examples=IP["figure_examples"],
        seed=IP["seed"],
        device=config["device"],
        out=figure_prefix,
    log:
        paths.log("figures", "inpainting_{dataset}"),
    conda:
        CONDA_ENV
    shell:
        "ganrepro inpaint-figure --model {input.model} --data {input.data} --examples {params.examples} "
        "--seed {params.seed} --device {params.device} --out {params.out} 2> {log}"
