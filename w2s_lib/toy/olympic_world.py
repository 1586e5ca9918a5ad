"""The toy forward-looking world (preset `toy-olympic`, issue #19): OlympicArena-shaped toy problems of several
answer types, a compact OlympicArena prompt the toy models can hold, and the "instruct" documents that make the toy
weak base a model that answers such prompts as it is (the analog of Llama3-8b-instruct).

    rec = toy_olympic_records(1, seed=0, max_number=49)[0]    # w2s_lib.stages.olympic_eval: the one generator
    toy_prompt(rec)
    # 'The answer to this question is a tuple.\\nQuestion: Ava has 12 pens and 30 cups. ...\\nAnswer:'

Why a compact prompt: OlympicArena's prompt (`grading.olympic.build_prompt`) is ~100-150 toy tokens of
instructions before the question; four demos and the question in that form are ~850 tokens, beyond the 512-token
window the toy bases were pretrained on. The compact prompt keeps what the release's prompt tells a model about
the answer (its answer-type sentence, `olympic_prompts.TYPE_DESCRIPTION`) and the release's required ending
(`The final answer is $\\boxed{...}$`, in every solution), and drops the rest. Options of choice questions stay on
their own lines (`A: 12`).
"""
from __future__ import annotations

from typing import Any

from w2s_lib.grading.olympic_prompts import TYPE_DESCRIPTION, record_field

# a block is a prompt and its response; blocks are joined by a blank line (responses hold none), as the toy task's
STOP = ("\n\n", "\nQuestion:")
TYPE_LINE = TYPE_DESCRIPTION


def toy_prompt(record: Any) -> str:
    """`<answer-type sentence>\\nQuestion: <problem, blank lines closed up>\\nAnswer:`."""
    atype = record_field(record, "answer_type")
    if atype not in TYPE_LINE:
        raise ValueError(f"record {record_field(record, 'id') or getattr(record, 'id', '?')!r}: answer type "
                         f"{atype!r} has no OlympicArena type sentence ({sorted(TYPE_LINE)})")
    problem = record.question if hasattr(record, "question") else record_field(record, "problem")
    problem = "\n".join(line for line in problem.split("\n") if line.strip())
    return f"{TYPE_LINE[atype]}\nQuestion: {problem}\nAnswer:"
