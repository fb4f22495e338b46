# Per-category analysis (quickgaze/report/categories.py): what each image holds, from
# COCO's instance annotations (SALICON: COCO's official archive, downloaded) or a
# folder dataset's annotation file, and every scored name's metric by cell. Not
# scheduled for a dataset without annotations (the methods page says why).


if LAYOUT.annotations is not None:

    # Compute nodes often have no internet.
    localrules:
        download_coco_annotations,

    rule download_coco_annotations:
        output:
            LAYOUT.annotations["archive"],
        log:
            f"logs/{NAME}/download_coco_annotations.log",
        conda:
            "../envs/quickgaze.yaml"
        params:
            archive=LAYOUT.annotations,
        script:
            "../workflow_scripts/download_archive.py"

    rule extract_coco_annotations:
        input:
            LAYOUT.annotations["archive"],
        output:
            str(LAYOUT.categories),
        log:
            f"logs/{NAME}/extract_coco_annotations.log",
        conda:
            "../envs/quickgaze.yaml"
        params:
            dest=DATASET["salicon"]["root"],
            members=[LAYOUT.annotations["member"]],
        script:
            "../workflow_scripts/extract_archive.py"


if LAYOUT.categories is not None:

    rule categories:
        input:
            tables=scored_tables,
            source=str(LAYOUT.categories),
            params=params_file("categories", CATEGORIES_PARAMS),
        output:
            supercategory=report(
                comparison_path("categories_supercategory.csv"),
                caption="../report/categories_table.rst",
                category="5. Categories",
                labels={"item": "by supercategory (table)"},
            ),
            n_objects=report(
                comparison_path("categories_n_objects.csv"),
                caption="../report/categories_table.rst",
                category="5. Categories",
                labels={"item": "by number of objects (table)"},
            ),
            largest_object=report(
                comparison_path("categories_largest_object.csv"),
                caption="../report/categories_table.rst",
                category="5. Categories",
                labels={"item": "by largest object's area (table)"},
            ),
            images=report(
                comparison_path("categories_images.csv"),
                caption="../report/categories_images.rst",
                category="5. Categories",
                labels={"item": "objects per image (table)"},
            ),
            supercategory_plot=report(
                comparison_path("categories_supercategory.png"),
                caption="../report/categories_plot.rst",
                category="5. Categories",
                labels={"item": "by supercategory (plot)"},
            ),
            n_objects_plot=report(
                comparison_path("categories_n_objects.png"),
                caption="../report/categories_plot.rst",
                category="5. Categories",
                labels={"item": "by number of objects (plot)"},
            ),
            largest_object_plot=report(
                comparison_path("categories_largest_object.png"),
                caption="../report/categories_plot.rst",
                category="5. Categories",
                labels={"item": "by largest object's area (plot)"},
            ),
            vector=category_vector_figures(),
        log:
            f"logs/{NAME}/comparison/categories.log",
        conda:
            "../envs/quickgaze.yaml"
        params:
            **CATEGORIES_PARAMS,
        script:
            "../workflow_scripts/categories.py"
