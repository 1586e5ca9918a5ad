"""A Task: everything the pipeline needs to know about one dataset, in one place.

The stages never compare a dataset's name: they ask the run's task (`RunContext.task`). A math word-problem
dataset with a gold final answer needs no code at all (`MathTask`, chosen for any name the registry does not
know); a dataset with its own prompt, answer format or grader is one subclass and one line in
`w2s_lib.tasks.TASKS` (docs/bring_your_own_dataset.md).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import prompts as P


class Task:
    """The default task: `Question: ...\\nAnswer:` prompts, final answers graded by `w2s_lib.grading.answers`."""

    judge = "grading"                 # eval.judge of the presets that use it (reported in eval metrics)
    has_train_2_gold = True           # False: no strong ceiling, no analysis of the kept data / the pairs
    llama_factory_ids = "position"    # ids in the LLaMA-Factory exports: "position" (the release) or "record"
    olympic_set = "val"               # notebook 05's set: "val" (OlympicArena val), "toy", or "run test set"
    synthetic = False                 # the toy world: numbers with no paper counterpart (said in the report)
    official_answer_key = "####"      # the release's grader: the marker before a response's final answer

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ---- prompts and answers -----------------------------------------------------------------------------
    def prompt(self, record: Any) -> str:
        """The zero-shot prompt of a record (Record or QuestionRecord), as the release wrote it."""
        return P.zero_shot(record.question)

    def few_shot_prompt(self, demos: Sequence[tuple[Any, str]], record: Any) -> str:
        """The few-shot prompt: (demo record, weak response) blocks, then the target question."""
        return P.few_shot([(q.question, response) for q, response in demos], record.question)

    def stop(self) -> list[str]:
        """Default stop strings of the prompt format (`generation.stop` overrides them)."""
        return list(P.STOP)

    def pred(self, response: str, record: Any = None) -> str:
        """The final answer of a response ('' if none): what selection, voting and the tables show."""
        from w2s_lib.grading.answers import extract_answer
        return extract_answer(response or "")

    def gold_target(self, record: Any) -> str:
        """The SFT target built from a gold record (weak model on train_1, the strong ceiling on train_2)."""
        if record.solution is None:
            raise ValueError(f"record {record.id!r} has no gold solution to train on")
        return record.solution

    # ---- comparison keys (which answers are the same) --------------------------------------------------
    def same_answers(self, weak_rows: Sequence[dict], icl_rows: Sequence[dict], records: Sequence[Any]) -> list[bool]:
        """Stage I, comparator `math`: do the weak and ICL final answers agree (grader equality; `0.5` and
        `\\frac12` agree)? The empty-answer rule is `method.agreement.keep_reason`'s."""
        from w2s_lib.grading.answers import cluster_batch
        if len(weak_rows) != len(icl_rows):
            raise ValueError(f"{len(weak_rows)} weak answers but {len(icl_rows)} ICL answers")
        labels = cluster_batch([[w["pred"] or "", i["pred"] or ""] for w, i in zip(weak_rows, icl_rows)])
        return [a >= 0 and a == b for a, b in labels]

    def vote_keys(self, questions: Sequence[dict], records: Sequence[Any]) -> list[list[str]]:
        """Stage II, comparator `math`: per question, [weak key, sample keys...] from the grader's clusters of
        equal final answers (sqrt(8) and 2*sqrt(2) vote together); '' = no answer."""
        from w2s_lib.grading.answers import cluster_batch
        groups = [[q["weak_pred"]] + list(q["preds"]) for q in questions]
        return [[f"c{lab}" if lab >= 0 else "" for lab in labs] for labs in cluster_batch(groups)]

    def sample_keys(self, preds: Sequence[Sequence[str]]) -> list[list[str]]:
        """maj@k in evaluation: per question, a key per sampled final answer ('' = none)."""
        from w2s_lib.grading.answers import cluster_batch
        return [[f"c{lab}" if lab >= 0 else "" for lab in labs] for labs in cluster_batch([list(p) for p in preds])]

    # ---- the release's rules (stage1.comparator: official; grader="official") --------------------------
    def official_pred(self, response: str) -> str:
        from w2s_lib.grading.official import official_pred
        return official_pred(response, self.official_answer_key)

    def official_vote_keys(self, questions: Sequence[dict]) -> list[list[str]]:
        """Stage II, comparator `official`: per question, [weak key, sample keys...] = the release's normalised
        predictions ('' = no answer), as its `construct_majority_voting_data` counts them."""
        return [[self.official_pred(q["weak_response"])] + [self.official_pred(x) for x in q["samples"]]
                for q in questions]

    def official_agree(self, weak_response: str, icl_response: str) -> bool:
        from w2s_lib.grading.official import preds_agree
        return preds_agree(self.official_pred(weak_response), self.official_pred(icl_response))

    # ---- grading ---------------------------------------------------------------------------------------
    def grade(self, responses: Sequence[str], records: Sequence[Any]) -> list[bool]:
        """Correctness of each response against its record's gold, with our grader."""
        from w2s_lib.grading.answers import grade_batch
        return grade_batch(list(responses), [r.answer for r in records], progress=False)

    def grade_official(self, responses: Sequence[str], records: Sequence[Any]) -> list[bool]:
        """Correctness under the paper release's grader (its `test_answer`)."""
        from w2s_lib.grading.official import is_correct_official
        key = self.official_answer_key
        return [is_correct_official(t, r.answer or "", key) for t, r in zip(responses, records)]
