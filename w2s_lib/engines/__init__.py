"""Engines: running models (an index; import the modules themselves).

    generation.py   the generation engine: transformers (CPU default) or vLLM, prompts in, completions out
    server.py       one engine in a child process for a whole generation step (`python -m w2s_lib.engines.server`)
    scale.py        generate and train spread over the visible GPUs (data-parallel engines, unsloth fallback)
    training.py     SFT, DPO and ORPO on TRL from YAML recipes, LoRA or full fine-tuning
    classifier.py   SCORE's self-verifier: a (LoRA) sequence classifier trained in a child job, and its scores
    recipes.py      training recipes (configs/train/*.yaml) and training rows
    trl_patches.py  TRL's CPU log-prob path, and ORPO as the paper's LLaMA-Factory trains it
    launch.py       training jobs in a process of their own (process or accelerate launcher)
    train_job.py    the entry point of one job (`python -m w2s_lib.engines.train_job`, `accelerate launch -m ...`)
    relay.py        child processes whose output shows under the caller's notebook cell
    costs.py        the dry run's estimates: tokens, GPU memory, GPU-hours per stage (`python -m w2s_lib.engines.costs`)
    model_specs.py  the model shapes those estimates use

Imports `w2s_lib.run` (paths, jsonl, presets, data), `w2s_lib.tasks` (prompts; the dry run's task), never a stage.
"""
