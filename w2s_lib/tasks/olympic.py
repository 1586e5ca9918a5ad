"""OlympicArena: the release's prompts, the per-answer-type judge, no public gold for train_2."""
from __future__ import annotations

from typing import Any, Sequence

from . import prompts as P
from ..method.agreement import cluster_keys
from .base import Task

# OlympicArena responses contain blank lines: a new exercise block ends one instead of "\n\n".
OLYMPIC_STOP = ("\nYou are participating in an international", "\n\nQuestion: ")


class OlympicTask(Task):
    judge = "olympic"
    llama_factory_ids = "record"

    def prompt(self, record: Any) -> str:
        from w2s_lib.grading.olympic import build_prompt
        return build_prompt(record)

    def few_shot_prompt(self, demos: Sequence[tuple[Any, str]], record: Any) -> str:
        """Blocks are whole release prompts; the release separates them by a blank line pair."""
        blocks = [self.prompt(q) + P.completion(response) for q, response in demos]
        return "\n\n\n".join(blocks + [self.prompt(record)])

    def stop(self) -> list[str]:
        return list(OLYMPIC_STOP)

    def pred(self, response: str, record: Any = None) -> str:
        from w2s_lib.grading.olympic import final_answer, record_field
        return final_answer(response, record_field(record, "answer_type") if record is not None else None)

    def same_answers(self, weak_rows, icl_rows, records) -> list[bool]:
        """Per-answer-type agreement (`olympic.answers_agree`); an empty answer never agrees."""
        from w2s_lib.grading.olympic import answers_agree
        return [bool(w["pred"]) and bool(i["pred"]) and answers_agree(w["response"], i["response"], q)
                for w, i, q in zip(weak_rows, icl_rows, records)]

    def vote_keys(self, questions, records) -> list[list[str]]:
        """Each answer joins the cluster of the first earlier answer it agrees with, per answer type."""
        from w2s_lib.grading.olympic import answers_agree
        return [cluster_keys([q["weak_response"], *q["samples"]], [q["weak_pred"], *q["preds"]],
                             lambda a, b, rec=rec: answers_agree(a, b, rec))
                for q, rec in zip(questions, records)]

    def sample_keys(self, preds) -> list[list[str]]:
        """Canonical keys of the final answers (no grader clusters: answer types differ per question)."""
        from w2s_lib.grading.answers import canonical_key
        return [[canonical_key(p) if p else "" for p in ps] for ps in preds]

    def official_pred(self, response: str) -> str:
        from w2s_lib.grading.official_olympic import official_olympic_pred
        return official_olympic_pred(response)

    def official_agree(self, weak_response: str, icl_response: str) -> bool:
        """No released code: the ICL response judged by OlympicArena's auto_judge against the weak answer."""
        from w2s_lib.grading.official_olympic import auto_judge
        return auto_judge(icl_response, self.official_pred(weak_response))

    def grade(self, responses, records) -> list[bool]:
        from w2s_lib.grading.olympic import judge_batch
        return judge_batch(list(responses), list(records), progress=False)

    def grade_official(self, responses, records) -> list[bool]:
        from w2s_lib.grading.official_olympic import judge_official
        return [judge_official(t, r) for t, r in zip(responses, records)]


class OlympicArenaTask(OlympicTask):
    """The paper's OlympicArena setup: train_2 is the HF test split (no public gold), test is OlympicArena val."""
    has_train_2_gold = False
    olympic_set = "run test set"


class ToyOlympicTask(OlympicArenaTask):
    """The toy forward-looking world (preset `toy-olympic`): OlympicArena-shaped toy problems, no train_2 gold, the
    test split is the set notebook 05 scores; prompts in the compact toy form (`w2s_lib.toy.olympic_world`), blocks
    joined by a blank line as the toy task's."""
    synthetic = True

    def prompt(self, record: Any) -> str:
        from w2s_lib.toy.olympic_world import toy_prompt
        return toy_prompt(record)

    def few_shot_prompt(self, demos: Sequence[tuple[Any, str]], record: Any) -> str:
        blocks = [self.prompt(q) + P.completion(response) for q, response in demos]
        return P.DEMO_SEPARATOR.join(blocks + [self.prompt(record)])

    def stop(self) -> list[str]:
        from w2s_lib.toy.olympic_world import STOP
        return list(STOP)
