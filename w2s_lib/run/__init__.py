"""Run: what a run is and where it lives (an index; import the modules themselves).

    paths.py            the repository root, shipped data, runs/ and the optional ../shared/data
    jsonl.py            JSON Lines and JSON I/O whose errors name file and line; atomic writes
    names.py            stage names, the notebook hint each missing stage prints, model labels
    presets.py          presets (configs/presets/*.yaml): load, extend, resolve
    preset_types.py     the type and range of every preset key, checked on load
    records.py          Record, the train_2 gold door (reference_gold, forbid_gold) and its log
    data.py             dataset loaders (GSM8K, MATH, OlympicArena, local JSONL) and the train_1 / train_2 split
    runstore.py         the run store: one directory per stage, atomic commits, resumable shards
    runlock.py          one writer per run directory (flock)
    manifest.py         what a committed stage wrote and its digest
    context.py          RunContext / open_run: a preset, a seed, a run directory, and its task and engines
    pipeline.py         the notebook series headless with papermill (`python -m w2s_lib`, the same as
                        `python -m w2s_lib.run.pipeline`)
    pipeline_checks.py  the pipeline's checks before it runs anything

Imports `w2s_lib.method` (stage names of the Stage I sets), `w2s_lib.tasks` (RunContext.task) and, lazily, the
engines it opens (RunContext.generate / train, the dry run's costs); never a stage.
"""
