"""Stage I selection rules on hand-made cases, and the selection stage on a real (toy) run with hand-written answers."""
import random

import pytest

from stage_helpers import hand_answers
from w2s_lib.run.context import open_run
from w2s_lib.stages.prepare import prepare
from w2s_lib.tasks.prompts import zero_shot
from w2s_lib.run.records import load_split
from w2s_lib.run.runstore import StageMissingError
from w2s_lib.stages.selection import (DISAGREE, ICL_NO_ANSWER, WEAK_NO_ANSWER, agree_reasons, build_sets,
                                      choose_demos, few_shot_prompt, generate_d_icl, load_decisions, load_sets,
                                      select)
from w2s_lib.stages.export import read_llama_factory
from stage_helpers import agreement


def gsm(ans: str) -> str:
    return f"Some steps.\n#### {ans}" if ans else "Some steps that never finish"


# ---- agreement ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weak, icl, agree", [
    ("5", "5", True),
    ("0.5", "\\frac12", True),            # equal values written differently agree (the release's strings would not)
    ("\\frac{1}{2}", "1/2", True),
    ("1,000", "1000", True),
    ("3", "4", False),
    ("", "", False),                      # two empty answers never agree (the release counted 8 such GSM8K rows)
    ("5", "", False),
    ("", "5", False),
    ("\\sqrt{8}", "2\\sqrt{2}", True),    # needs the symbolic check
])
def test_agreement_pairs(weak, icl, agree):
    assert agreement([weak], [icl]) == [agree]


def test_agreement_is_per_row_and_checks_lengths():
    assert agreement(["1", "2", "", "0.25"], ["1", "3", "", "1/4"]) == [True, False, False, True]
    with pytest.raises(ValueError, match="2 weak answers but 1"):
        agreement(["1", "2"], ["1"])


# ---- demos -------------------------------------------------------------------------------------------------
def test_demos_follow_the_release_helper():
    """random.seed(42); random.shuffle(rows); first 4 rows with a final answer (docs/paper_settings.md)."""
    rows = [{"id": f"q{i}", "position": i, "response": gsm(str(i)) if i % 3 else "no answer",
             "pred": str(i) if i % 3 else ""} for i in range(100)]
    demos = choose_demos(rows, 4, 42)
    ref = list(rows)
    random.seed(42)
    random.shuffle(ref)
    assert demos == [r for r in ref if r["pred"]][:4]
    assert all(d["pred"] for d in demos)
    assert choose_demos(rows, 4, 42) == demos and choose_demos(rows, 4, 7) != demos


def test_demo_shuffle_matches_the_documented_release_order():
    # docs/paper_settings.md: over 7,000 rows the seed-42 helper visits [434, 2772, 3401, 173, 354, 6272, ...]
    order = list(range(7000))
    random.Random(42).shuffle(order)
    assert order[:6] == [434, 2772, 3401, 173, 354, 6272]


def test_too_few_answered_rows_for_demos():
    rows = [{"id": "a", "position": 0, "response": "x", "pred": ""}, {"id": "b", "position": 1, "response": "y",
                                                                        "pred": "1"}]
    with pytest.raises(ValueError, match="only 1 weak responses have a final answer"):
        choose_demos(rows, 4, 42)


# ---- sets ------------------------------------------------------------------------------------------------------
def test_build_sets_interleaves_hybrid_in_train_2_order():
    weak = [{"id": f"q{i}", "position": i, "response": f"w{i}"} for i in range(4)]
    icl = [{"id": f"q{i}", "position": i, "response": f"i{i}"} for i in range(4)]
    sets = build_sets(weak, icl, [True, False, True, True], [f"P{i}" for i in range(4)])
    assert [r["response"] for r in sets["weak"]] == ["w0", "w2", "w3"]
    assert [r["response"] for r in sets["icl"]] == ["i0", "i2", "i3"]
    assert [r["response"] for r in sets["hybrid"]] == ["w0", "i0", "w2", "i2", "w3", "i3"]
    assert [r["source"] for r in sets["hybrid"]] == ["weak", "icl"] * 3
    assert [r["prompt"] for r in sets["hybrid"]] == ["P0", "P0", "P2", "P2", "P3", "P3"]


# ---- the stage, on a prepared toy run -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ctx = open_run("smoke", 0, tmp_path_factory.mktemp("sel") / "run")
    prepare(ctx, verbose=False)
    return ctx


CASES = [  # (weak answer, icl answer, expected reason); None = kept
    ("7", "7", None), ("0.5", "\\frac{1}{2}", None), ("", "7", WEAK_NO_ANSWER), ("", "", WEAK_NO_ANSWER),
    ("7", "", ICL_NO_ANSWER), ("7", "8", DISAGREE), ("12", "12.0", None), ("x", "y", DISAGREE),
]


def _answers(ctx, side: int) -> list[dict]:
    """Side 0 (weak) or 1 (ICL) answers for every train_2 question, following CASES; texts are distinct."""
    rows = []
    for i, q in enumerate(load_split(ctx.root, "train_2")):
        ans = CASES[i % len(CASES)][side]
        text = f"Steps {side}.{i}.\n#### {ans}" if ans else f"Steps {side}.{i} that never finish"
        rows.append({"id": q.id, "position": i, "prompt": zero_shot(q.question), "response": text, "pred": ans})
    return rows


def test_select_stage_decisions_sets_and_exports(run):
    q2 = load_split(run.root, "train_2")
    hand_answers(run, "hand_weak", _answers(run, 0))
    hand_answers(run, "hand_icl", _answers(run, 1))
    st = select(run, 1, "hand_weak", "hand_icl", verbose=False)
    decisions = load_decisions(run, 1)
    expected = [CASES[i % len(CASES)][2] for i in range(len(q2))]
    assert [d["reason"] for d in decisions] == expected
    assert [d["id"] for d in decisions] == [q.id for q in q2]
    kept = [q for q, e in zip(q2, expected) if e is None]
    m = st.metrics
    assert m["kept"] == len(kept) and m["questions"] == len(q2)
    assert m["dropped"] == {r: expected.count(r) for r in (WEAK_NO_ANSWER, ICL_NO_ANSWER, DISAGREE)}
    sets = load_sets(run, 1)
    assert [r["id"] for r in sets["weak"]] == [q.id for q in kept] == [r["id"] for r in sets["icl"]]
    assert [r["id"] for r in sets["hybrid"]] == [q.id for q in kept for _ in range(2)]
    assert all(r["prompt"] == zero_shot(q.question) for r, q in zip(sets["weak"], kept))
    assert all(r["response"].startswith("Steps 0.") for r in sets["weak"])
    assert all(r["response"].startswith("Steps 1.") for r in sets["icl"])
    lf = read_llama_factory(st.dir / "llama_factory" / "train_toy_iter1_hybrid.json")
    assert [r["id"] for r in lf] == [r["position"] for r in sets["hybrid"]]
    assert [r["output"] for r in lf] == [r["response"] for r in sets["hybrid"]]
    assert set(lf[0]) == {"id", "content", "output"} and lf[0]["content"] == sets["hybrid"][0]["prompt"]
    info = (st.dir / "llama_factory" / "dataset_info.json").read_text()
    assert "toy_iter1_weak" in info and "train_toy_iter1_icl.json" in info
    # same inputs: skipped (same hash, nothing rewritten)
    before = (st.dir / "config.json").stat().st_mtime_ns
    assert select(run, 1, "hand_weak", "hand_icl", verbose=False).done
    assert (st.dir / "config.json").stat().st_mtime_ns == before


def test_select_refuses_misaligned_sides(run):
    q2 = load_split(run.root, "train_2")
    rows = _answers(run, 0)
    swapped = [rows[1], rows[0]] + rows[2:]
    with pytest.raises(ValueError, match="ids differ"):
        agree_reasons(run, swapped, _answers(run, 1), q2)


def test_icl_before_weak_data_says_run_01(tmp_path):
    ctx = open_run("smoke", 0, tmp_path / "empty")
    with pytest.raises(StageMissingError, match="01_weak_data"):
        generate_d_icl(ctx)
    prepare(ctx, verbose=False)
    with pytest.raises(StageMissingError, match="01_weak_data"):
        generate_d_icl(ctx)


def test_few_shot_prompt_puts_weak_demos_before_the_question(run):
    q2 = {q.id: q for q in load_split(run.root, "train_2")}
    ids = list(q2)
    demos = [{"id": ids[0], "response": "A0\n#### 1"}, {"id": ids[1], "response": "A1\n#### 2"}]
    p = few_shot_prompt(run, demos, q2[ids[5]], q2)
    blocks = p.split("\n\n")
    assert blocks[0] == zero_shot(q2[ids[0]].question) + " A0\n#### 1"
    assert blocks[1] == zero_shot(q2[ids[1]].question) + " A1\n#### 2"
    assert blocks[2] == zero_shot(q2[ids[5]].question)


# ---- OlympicArena: agreement by answer type ---------------------------------------------------------------------
OLYMPIC_CASES = {  # id: (weak answer, ICL answer, expected reason)
    "Math_55": ("0.5", "\\frac{1}{2}", None),            # NV: equal values
    "Math_3121": ("True", "true", None),                 # TF: case-insensitive
    "Math_609": ("(1, 2)", "(2, 1)", DISAGREE),          # TUP: ordered
    "Physics_13": ("A", "(A)", None),                    # SC: the option letter, however written
    "Physics_268": ("A, C", "CA", None),                 # MC: order-free
    "Physics_821": ("x+y=1", "2x+2y=2", None),           # EQ: the same equation
    "Chemistry_238": ("A", "AB", DISAGREE),
    "Biology_1034": ("", "B", WEAK_NO_ANSWER),
    "Geography_fixture_1": ("B", "C", DISAGREE),
    "Astronomy_fixture_1": ("D", "", ICL_NO_ANSWER),
}


def test_olympic_selection_agrees_by_answer_type(tmp_path, monkeypatch):
    from stage_helpers import olympic_response, olympic_run
    ctx = olympic_run(tmp_path, monkeypatch)
    q2 = load_split(ctx.root, "train_2")
    assert [q.id for q in q2] == list(OLYMPIC_CASES)
    sides = []
    for side in (0, 1):
        rows = []
        for i, q in enumerate(q2):
            resp = olympic_response(OLYMPIC_CASES[q.id][side])
            rows.append({"id": q.id, "position": i, "prompt": ctx.prompt(q), "response": resp,
                         "pred": ctx.pred(resp, q)})
        sides.append(hand_answers(ctx, f"side{side}", rows).name)
    st = select(ctx, 1, *sides, verbose=False)
    assert [d["reason"] for d in load_decisions(ctx, 1)] == [c[2] for c in OLYMPIC_CASES.values()]
    lf = read_llama_factory(st.dir / "llama_factory" / "train_olympicarena_iter1_weak.json")
    assert [r["id"] for r in lf] == [k for k, c in OLYMPIC_CASES.items() if c[2] is None]   # record ids, as released
    assert all(r["content"].endswith("\n\nAnswer:") for r in lf)
