# Baselines as pseudo-variants (centre bias, uniform) and the dataset-level
# fixation statistics that they and the shuffled AUC need.


rule fixation_stats:
    input:
        truths=[truth_path(i) for i in IMAGE_IDS],
        params=params_file("fixation_stats", FIXATION_STATS_PARAMS),
    output:
        fixation_stats_path(),
    log:
        f"logs/{NAME}/fixation_stats.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **FIXATION_STATS_PARAMS,
    script:
        "../workflow_scripts/fixation_stats.py"


for baseline in BASELINES:
    baseline_params = params_file(
        "baseline", {**EVALUATION_PARAMS, "baseline": baseline}, f"baseline_{baseline}"
    )  # once per baseline

    for batch, ids in BATCHES.items():

        rule:
            name:
                f"baseline_{baseline}_{batch}"
            input:
                truths=[truth_path(i) for i in ids],
                stats=fixation_stats_path(),
                params=baseline_params,
            output:
                metrics=update(BATCH_FILES[f"baseline_{baseline}_{batch}"]["metrics"]),
                done=touch(done_path(f"baseline_{baseline}_{batch}")),
            log:
                f"logs/{NAME}/{baseline}/evaluate/{batch}.log",
            conda:
                "../envs/quickgaze.yaml"
            threads: CPU_JOB_THREADS
            params:
                **EVALUATION_PARAMS,
                ids=ids,
                baseline=baseline,
            script:
                "../workflow_scripts/baseline_batch.py"
