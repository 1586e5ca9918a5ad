"""The report (notebook 06): results across seeds: the table, PGR, maj@k / pass@k, breakdowns, selection quality, plots,
the paper's numbers beside ours, and the report.

    res = collect("toy")                  # every runs/toy/seed*/ (or runs_dir=..., seeds=[0, 1])
    res.summary                           # what results.json holds: mean accuracy per key, PGR, spread, per seed
    results_frame(res)                    # the results table (pandas), one row per model
    orderings(res)                        # which comparisons (e.g. M_plus > full weak FT) hold in every seed
    breakdown(res, "level")               # accuracy per value of a test-set meta key (MATH levels, answer types)
    res.selection, res.pairs              # ANALYSIS ONLY: quality of the kept data and of the Stage II pairs
                                          #   (open train_2 gold through records.reference_gold, logged)
    paper_comparison(res)                 # configs/paper_results.yaml rows matching the preset's `paper:` key
    plot_accuracy(res), plot_pgr(res), plot_selection(res)
    write_report(res)                     # runs/<preset>/results.json, report.md and the PNGs next to it
    res.summary["score"], score_rows(...)  # SCORE (notebooks 07-08): per seed, means, pooled sign tests

Keys. Every evaluated model of a run is an `eval_<stage>/` directory; its key here follows
configs/paper_results.yaml: weak (stage weak_model), strong_icl, full_weak_ft (sft_full_weak),
stage1_iter<k>_<set> (sft_iter<k>_<set>), stage2_dpo, stage2_orpo, strong_ceiling (sft_ceiling). Two aliases:
stage1_iter<k> = the iteration-k model of the preset's M_plus set (`stage1.m_plus`, the paper's hybrid) and
m_plus = the model the run's `m_plus` stage declared (what Stage II started from).

PGR = (acc - weak) / (ceiling - weak). The headline PGR of a key is computed from mean accuracies over the
seeds that have that key, the weak floor and the ceiling (averaging accuracies first keeps one seed with a
tiny ceiling-weak gap from blowing up the mean); per-seed PGRs are listed beside it. PGR is undefined (None,
with the reason in `pgr_note`) when there is no ceiling (OlympicArena) or the ceiling is not above the weak
floor: there is then no gap to recover.

Rooms: `collect` (the runs, by key), `statistics` (the numbers and results.json), `plots`, `markdown`
(report.md). Notebook 06 uses them through this package: `from w2s_lib import report as A`.
"""
from __future__ import annotations

from ..method.stats import pgr, sign_test_p, spread
from w2s_lib.run.names import FIXED, stage_key
from .collect import PAPER_RESULTS, Collected, SeedRun, collect, key_order
from .markdown import markdown_table, write_report, write_results_json
from .plots import plot_accuracy, plot_pgr, plot_selection
from .score import SCORE_HEADER, score_markdown, score_rows, score_summary, write_score_report
from .statistics import (BREAKDOWN_KEYS, COMPARISONS, MATH_LEVEL_GROUPS, REQUIRED_KEYS, breakdown, breakdown_frame,
                         has_train_2_gold, olympic_summary, orderings, pair_quality, paper_comparison, paper_results,
                         reading, results_frame, selection_quality, self_consistency, summarize, test_meta_values)
