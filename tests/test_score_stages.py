"""SCORE's stage helpers (w2s_lib.stages.score, score_eval) and its preset section, without models: the pairs,
the kept critique as the refinement filter shows it, a check's blocks, one line of the verify-then-refine table,
and what a preset with a SCORE run must hold."""
import random
import textwrap

import pytest

from w2s_lib.method import score as sr
from w2s_lib.run.presets import PresetError, load_preset
from w2s_lib.stages import score, score_eval
from w2s_lib.tasks import score_prompts as SP
from w2s_lib.toy import critique as cr


def _rows(n=30, k=6, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ok = [rng.random() < 0.6 for _ in range(k)]
        samples = [f"Step 1: q{i} s{j % 4}\nStep 2: #### {j % 4 if o else 9}" for j, o in enumerate(ok)]
        rows.append({"id": f"q{i}", "position": i, "samples": samples, "correct": ok})
    return rows


def test_pairs_are_every_distinct_wrong_right_pair_of_one_question():
    rows = _rows()
    got = score.pairs(rows, 0, 42)
    for r in rows:
        right = {s for s, o in zip(r["samples"], r["correct"]) if o}
        wrong = {s for s, o in zip(r["samples"], r["correct"]) if not o}
        mine = [(p["wrong"], p["hint"]) for p in got if p["id"] == r["id"]]
        assert len(mine) == len(set(mine)) == len(right) * len(wrong)
        assert all(w in wrong and h in right for w, h in mine)
    assert {p["id"] for p in got} == {r["id"] for r in rows if any(r["correct"]) and not all(r["correct"])}


def test_pairs_per_question_caps_and_is_seeded():
    rows = _rows()
    capped = score.pairs(rows, 1, 42)
    assert max(sum(p["id"] == r["id"] for p in capped) for r in rows) == 1
    assert capped == score.pairs(rows, 1, 42)
    assert capped != score.pairs(rows, 1, 7)


def test_a_kept_critique_is_shown_with_a_bare_last_verdict_and_the_answer_does_not_leak():
    docs = cr.examples(cr.default_config(seed=3, mix={"critique": 1.0}), 40)
    for d in docs:
        v = sr.rule_filter(d.solution, d.critique, d.gold)
        assert v.kept
        shown = score.kept_text(v.critique)
        pairs = sr.parse_critique(shown)
        assert [s for s, _ in pairs] == sr.split_steps(d.solution)
        assert pairs[-1][1] == SP.WRONG and not sr.mentions(pairs[-1][1], d.gold)
        assert [fb for _, fb in pairs[:-1]] == [fb for _, fb in sr.parse_critique(d.critique)[:-1]]
        # the refiner's training target from it points at the step the critique calls wrong first
        target = sr.refiner_target(tuple(pairs), d.correction)
        head, corrected = sr.split_refinement(target)
        assert corrected == d.correction and cr.final_answer(corrected) == d.gold
        first = len(pairs) - 1 if d.missed else d.first_error
        assert head.startswith(f"Step {first + 1}: ")


def test_check_blocks_drop_the_verdict():
    docs = cr.examples(cr.default_config(seed=4, mix={"verify": 1.0}), 10)
    for d in docs:
        out = d.text[len(SP.verify_prompt(d.question, d.solution)):]
        blocks = score_eval.check_blocks(out)
        assert SP.VERDICT not in blocks and blocks == d.critique
    assert score_eval.check_blocks("no check at all") == "no check at all"


def test_to_steps_and_back():
    assert SP.to_steps("a\n\nb\n") == "Step 1: a\nStep 2: b"
    assert SP.to_steps("Step 1: a\nStep 2: b") == "Step 1: a\nStep 2: b"
    assert SP.to_steps("  ") == ""
    assert SP.from_steps(SP.to_steps("Begin with x 2.\n#### 2")) == "Begin with x 2.\n#### 2"


@pytest.mark.parametrize("seed", range(5))
def test_outcome_row_counts_fixed_and_broken(seed):
    rng = random.Random(seed)
    n = 60
    initial = [rng.random() < 0.7 for _ in range(n)]
    refined = [rng.random() < 0.6 for _ in range(n)]
    flags = [rng.random() < 0.4 for _ in range(n)]
    row = score_eval.outcome_row(initial, refined, flags)
    final = [r if f else i for i, r, f in zip(initial, refined, flags)]
    assert row["final"] == pytest.approx(sum(final) / n)
    assert row["fixed"] == sum(1 for i, f in zip(initial, final) if not i and f)
    assert row["broken"] == sum(1 for i, f in zip(initial, final) if i and not f)
    assert row["precision"] == pytest.approx(sum(f and not i for f, i in zip(flags, initial)) / sum(flags))
    oracle = score_eval.outcome_row(initial, refined, [not i for i in initial])
    assert oracle["broken"] == 0 and oracle["precision"] == 1.0 and oracle["recall"] == 1.0


def _preset(tmp_path, body: str):
    p = tmp_path / "p.yaml"
    p.write_text(textwrap.dedent(body))
    return p


def test_a_preset_with_a_score_run_needs_both_recipes(tmp_path):
    p = _preset(tmp_path, """
        extends: paper-gsm8k-llama2-7b
        score: {small_model: data/toy/strong_base, dev_size: 8}
        """)
    with pytest.raises(PresetError, match="train.score_refiner"):
        load_preset(p)


@pytest.mark.parametrize("line, words", [
    ("score: {small_model: data/toy/no_such_model}", "score.small_model"),
    ("score: {threshold_grid: [0.9, 0.5, 0.01]}", "threshold_grid"),
    ("score: {pairs_per_question: -1}", "pairs_per_question"),
    ("score: {train_split: train_2}", "train_split"),
])
def test_bad_score_settings_name_the_key(tmp_path, line, words):
    p = _preset(tmp_path, f"extends: smoke\n{line}\n")
    with pytest.raises(PresetError, match=words):
        load_preset(p)


def test_presets_without_score_have_no_score_run():
    p = load_preset("paper-gsm8k-llama2-7b")
    assert not p.has_score
    with pytest.raises(PresetError, match="score.small_model"):
        p.score_model("small_model")
