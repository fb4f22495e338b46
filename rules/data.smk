# Datasets and ground truth: the demo generator, SALICON downloads, per-image
# ground-truth records (fixations + map at image size).


if LAYOUT.generated:

    localrules:
        demo_dataset,

    rule demo_dataset:
        input:
            params=params_file("demo_dataset", DEMO_PARAMS),
        output:
            images=[image_path(i) for i in IMAGE_IDS],
            maps=[official_map_path(i) for i in IMAGE_IDS],
            fixations=f"{RESOURCES}/fixations.json",
        log:
            f"logs/{NAME}/demo_dataset.log",
        conda:
            "../envs/quickgaze.yaml"
        params:
            **DEMO_PARAMS,
            root=parent_of_fixations,
        script:
            "../workflow_scripts/demo_dataset.py"


ground_truth_params = params_file(
    "ground_truth", GROUND_TRUTH_PARAMS
)  # once, not per batch

for batch, ids in BATCHES.items():

    rule:
        name:
            f"ground_truth_{batch}"
        input:
            images=image_inputs(ids),
            maps=[m for m in map(official_map_path, ids) if m],
            fixations=[f for f in [fixation_source()] if f],
            params=ground_truth_params,
        output:
            truths=update(BATCH_FILES[f"ground_truth_{batch}"]["truths"]),
            done=touch(done_path(f"ground_truth_{batch}")),
        log:
            f"logs/{NAME}/ground_truth/{batch}.log",
        conda:
            "../envs/quickgaze.yaml"
        threads: CPU_JOB_THREADS
        params:
            **GROUND_TRUTH_PARAMS,
            ids=ids,
            image_files=[image_path(i) for i in ids],
            maps={i: official_map_path(i) for i in ids},
        script:
            "../workflow_scripts/ground_truth_batch.py"


if LAYOUT.downloaded:

    # Compute nodes often have no internet.
    localrules:
        download_salicon_archive,

    rule download_salicon_archive:
        output:
            f"{DATASET['salicon']['root']}/archives/{{part}}",
        log:
            f"logs/{NAME}/download_{{part}}.log",
        wildcard_constraints:
            part=salicon_part_names(),
        # Before COCO's annotations: on 2 cores offline, the first failures stop the
        # run, and the SALICON archives are the ones nothing runs without.
        priority: 1
        conda:
            "../envs/quickgaze.yaml"
        params:
            archive=salicon_archive,
        script:
            "../workflow_scripts/download_archive.py"

    rule extract_salicon_archive:
        input:
            f"{DATASET['salicon']['root']}/archives/{{part}}",
        output:
            touch(f"{DATASET['salicon']['root']}/.extracted_{{part}}"),
        log:
            f"logs/{NAME}/extract_{{part}}.log",
        conda:
            "../envs/quickgaze.yaml"
        params:
            dest=salicon_extract_dir,
            file_name=salicon_file_name,
        script:
            "../workflow_scripts/extract_archive.py"
