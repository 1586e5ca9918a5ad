"""Stage I: the three training sets built from the kept questions (the release's `_weak`, `_icl` and `_hybrid`
files)."""
from __future__ import annotations

from typing import Sequence

SUBSETS = ("weak", "icl", "hybrid")


def build_sets(weak_rows: Sequence[dict], icl_rows: Sequence[dict], keep: Sequence[bool],
               prompts: Sequence[str]) -> dict[str, list[dict]]:
    """The weak, ICL and hybrid training sets of the kept questions, in train_2 order.

    weak = the weak model's response to each kept question, icl = the strong base's few-shot response, hybrid =
    both, interleaved weak_i, icl_i per question (as the release's `_hybrid` files). Each row is one SFT example:
    the zero-shot prompt and a response; `source` says which side wrote it.
    """
    sets: dict[str, list[dict]] = {s: [] for s in SUBSETS}
    for w, i, k, p in zip(weak_rows, icl_rows, keep, prompts, strict=True):
        if not k:
            continue
        rw = {"id": w["id"], "position": w["position"], "prompt": p, "response": w["response"], "source": "weak"}
        ri = {"id": i["id"], "position": i["position"], "prompt": p, "response": i["response"], "source": "icl"}
        sets["weak"].append(rw)
        sets["icl"].append(ri)
        sets["hybrid"] += [rw, ri]
    return sets
