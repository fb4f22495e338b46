# Evaluation batch jobs: smoothing and metrics per image, CPU only. Changing
# evaluation parameters reruns these and the analysis, never a CAM.


evaluation_params = params_file("evaluation", EVALUATION_PARAMS)  # once, not per batch

for variant in VARIANTS:
    for batch, ids in BATCHES.items():

        rule:
            name:
                f"evaluate_{variant}_{batch}"
            input:
                cams=[cam_path(variant, i) for i in ids],
                truths=[truth_path(i) for i in ids],
                stats=fixation_stats_path(),
                params=evaluation_params,
            output:
                smooth=update(BATCH_FILES[f"evaluate_{variant}_{batch}"]["smooth"]),
                metrics=update(BATCH_FILES[f"evaluate_{variant}_{batch}"]["metrics"]),
                done=touch(done_path(f"evaluate_{variant}_{batch}")),
            log:
                f"logs/{NAME}/{variant}/evaluate/{batch}.log",
            conda:
                "../envs/quickgaze.yaml"
            threads: CPU_JOB_THREADS
            params:
                **EVALUATION_PARAMS,
                ids=ids,
                variant=variant,
            script:
                "../workflow_scripts/evaluate_batch.py"
