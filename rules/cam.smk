# CAM batch jobs: one rule per (forward group, batch); each job loads the detector
# once, runs one forward per image for all the group's variants and writes one
# record per variant and image. update() keeps the batch's existing
# files, so the job recomputes only the missing or stale ones.
# cam_resources (config) adds cluster resources, e.g. the GPU the SLURM plugin
# requests; the local executor ignores resources it is given no limit for.


for group, members in FORWARD_GROUPS.items():
    cam_params = params_file(
        "cam", cam_group_params(members), f"cam_{group}"
    )  # once per group

    for batch, ids in BATCHES.items():

        rule:
            name:
                f"cam_{group}_{batch}"
            input:
                images=image_inputs(ids),
                weights=weights_input(group),
                params=cam_params,
            output:
                cams=update(BATCH_FILES[f"cam_{group}_{batch}"]["cams"]),
                done=touch(done_path(f"cam_{group}_{batch}")),
            log:
                f"logs/{NAME}/{group}/cam/{batch}.log",
            conda:
                "../envs/quickgaze.yaml"
            threads: cam_threads()
            resources:
                **config["cam_resources"],
                cam_jobs=1,
            params:
                **cam_group_params(members),
                ids=ids,
                image_files=[image_path(i) for i in ids],
                device=config["device"],
                forward_batch=config["forward_batch"],
                loader_workers=config["loader_workers"],
            script:
                "../workflow_scripts/cam_batch.py"
