"""Stages: one module per notebook step (an index; import the modules themselves).

    prepare.py      the data stage (01): train_1 with gold, train_2 questions only (gold sealed), test
    weak.py         01: the weak model (SFT on train_1) and its answers D_weak
    selection.py    02: the strong base's few-shot answers D_icl, the agreement selection, the three sets
    stage1.py       03: Stage I SFT, iteration 2, M_plus; baselines full weak FT and the strong ceiling
    stage2.py       04: M_plus's samples, the vote, preference pairs, DPO / ORPO
    evaluate.py     eval_<model> of every notebook: test accuracy, maj@k / pass@k, the release's grader
    olympic_eval.py 05: the OlympicArena-shaped evaluation, per answer type
    export.py       the training sets in the LLaMA-Factory layouts of the paper's release
    train_logs.py   the loss curves of a run's training stages (notebooks 03, 04)

Each stage reads its inputs from the run store, calls the method (`w2s_lib.method`) and the task (`ctx.task`),
runs the engines through `RunContext`, and commits its outputs. Imports `method`, `tasks`, `run`, `engines`,
`grading`, `toy` (05's toy set).
"""
