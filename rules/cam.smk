# CAM batch jobs: one rule per (variant, batch); each job loads the detector
# once and writes one record per image. update() keeps the batch's existing
# files, so the job recomputes only the missing or stale ones.
# cam_resources (config) adds cluster resources, e.g. the GPU the SLURM plugin
# requests; the local executor ignores resources it is given no limit for.


for variant in VARIANTS:
    # once per variant, not per batch
    cam_params = params_file("cam", cam_variant_params(variant), f"cam_{variant}")

    for batch, ids in BATCHES.items():

        rule:
            name:
                f"cam_{variant}_{batch}"
            input:
                images=[image_path(i) for i in ids],
                weights=weights_input(variant),
                params=cam_params,
            output:
                cams=update([cam_path(variant, i) for i in ids]),
                done=touch(done_path(f"cam_{variant}_{batch}")),
            params:
                ids=ids,
                **cam_variant_params(variant),
                device=config["device"],
                forward_batch=config["forward_batch"],
                loader_workers=config["loader_workers"],
            threads: cam_threads()
            resources:
                cam_jobs=1,
                **config["cam_resources"],
            conda:
                "../envs/quickgaze.yaml"
            log:
                f"logs/{NAME}/{variant}/cam/{batch}.log",
            script:
                "../workflow_scripts/cam_batch.py"
