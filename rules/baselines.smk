# Baselines as pseudo-variants (centre bias, uniform) and the dataset-level
# fixation statistics that they and the shuffled AUC need.


rule fixation_stats:
    input:
        truths=[truth_path(i) for i in IMAGE_IDS],
    output:
        fixation_stats_path(),
    params:
        ids=IMAGE_IDS,
        centre_bias_sigma=lookup(
            dpath="evaluation/centre_bias_sigma", within=config, default="fit"
        ),
        n_others=lookup(dpath="evaluation/shuffled_auc_images", within=config, default=10),
        seed=config["seed"],
    conda:
        "../envs/quickgaze.yaml"
    log:
        f"logs/{NAME}/fixation_stats.log",
    script:
        "../workflow_scripts/fixation_stats.py"


for baseline in BASELINES:
    for batch, ids in BATCHES.items():

        rule:
            name:
                f"baseline_{baseline}_{batch}"
            input:
                truths=[truth_path(i) for i in ids],
                stats=fixation_stats_path(),
            output:
                metrics=update([metrics_path(baseline, i) for i in ids]),
            params:
                ids=ids,
                baseline=baseline,
                sigma=config["evaluation"]["sigma"],
                seed=config["seed"],
            conda:
                "../envs/quickgaze.yaml"
            log:
                f"logs/{NAME}/{baseline}/evaluate/{batch}.log",
            script:
                "../workflow_scripts/baseline_batch.py"
