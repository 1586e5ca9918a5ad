"""The method's rules, as plain functions over plain records: no I/O, no run store, no models.

Each rule has one definition here; the stage modules (weak, selection, stage1, stage2, evaluate) and the report
load and save data and call these functions. A learner can read the whole method in these files:

    demos.choose_demos        the 4 in-context demos taken from the weak model's outputs (Stage I, D_icl)
    agreement.keep_reason     whether a train_2 question is kept: weak and ICL final answers agree (Stage I)
    sets.build_sets           the weak, ICL and hybrid training sets of the kept questions (Stage I)
    agreement.cluster_keys    answers grouped by a pairwise "same answer" rule (tasks without canonical keys)
    vote.vote, vote.passes    the majority vote over samples, its confidence, and the confidence gates
    pairs.pairs_for_question  Stage II's preference-pair rules for one question
    pairs.build_pairs         those rules over a whole train_2, with one seeded RNG, plus a per-question log
    stats.pgr                 performance gap recovered = (acc - weak) / (ceiling - weak)
    stats.sign_test_p         the exact two-sided sign test used to compare two models per question

The second paper (SCORE, Zhang et al. 2024) has its rules in `score.py`: step and critique parsing, the critique
rule filter, the refiner's target, verify-then-refine and the verifier's threshold; its stages are
`w2s_lib/stages/score.py` and `score_eval.py` (notebooks 07-08).
"""
