# The human ceiling as pseudo-variants (quickgaze/saliency/ceiling.py): split halves of the
# observers, one human against the rest, the infinite-observer estimate.


for ceiling_name in CEILINGS:
    ceiling_params = params_file(
        "ceiling", ceiling_stage_params(ceiling_name), f"ceiling_{ceiling_name}"
    )  # once per ceiling

    for batch, ids in BATCHES.items():

        rule:
            name:
                f"ceiling_{ceiling_name}_{batch}"
            input:
                truths=[truth_path(i) for i in ids],
                stats=fixation_stats_path(),
                params=ceiling_params,
            output:
                metrics=update(
                    BATCH_FILES[f"ceiling_{ceiling_name}_{batch}"]["metrics"]
                ),
                done=touch(done_path(f"ceiling_{ceiling_name}_{batch}")),
            log:
                f"logs/{NAME}/{ceiling_name}/evaluate/{batch}.log",
            conda:
                "../envs/quickgaze.yaml"
            threads: CPU_JOB_THREADS
            params:
                **ceiling_stage_params(ceiling_name),
                ids=ids,
            script:
                "../workflow_scripts/ceiling_batch.py"
