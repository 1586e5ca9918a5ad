"""Grading: final answers and whether two of them are equal (an index; import the modules themselves).

    answers.py           the grader's public API: extract_answer, is_correct, answers_match, canonical_key,
                         grade_batch, cluster_batch (the math-aware default grader)
    extract.py           find the final answer in a model output (\\boxed{}, "####", "The answer is")
    normalize.py         normalise an extracted answer and read its shape (numbers, units, LaTeX)
    decide.py            decide equality by cheap checks before sympy
    numeric.py           a tiny float evaluator for constant LaTeX
    pool.py              math-verify comparisons in worker processes under a wall-clock limit
    cases.py             labelled answer pairs for judging a grader, math-verify as the reference
    official.py          the paper release's own grader, rule for rule
    olympic.py           OlympicArena's per-answer-type judge (ours)
    olympic_prompts.py   OlympicArena's record fields, gold lists and the release's prompts
    official_olympic.py  OlympicArena's own judge (code/judge.py), rule for rule

Imports only itself and `w2s_lib.run` (paths, jsonl).
"""
