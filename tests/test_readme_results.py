"""The README's toy results come from the runs (w2s_lib.report.readme): the block is generated from hand-made run
stores (the demo seeds and held-out seeds), its numbers are the runs' numbers, the README's markers are replaced
and nothing else, and the shipped README has exactly one such block (so `python -m w2s_lib.report.readme` can
refresh it after `make demo`)."""
import pytest

from test_analysis import RUNS, make_runs
from w2s_lib.report import readme as R
from w2s_lib.run.paths import REPO_ROOT


def test_block_holds_the_runs_numbers_and_the_held_out_spread(tmp_path):
    held = {s + 3: {k: (None if v is None else min(10, v + 1)) for k, v in stages.items()} for s, stages in RUNS.items()}
    make_runs(tmp_path, runs={**RUNS, **held})
    block = R.results_block("smoke", tmp_path, (0, 1, 2), (3, 4, 5), commit="abc1234", date="2026-12-04")
    assert "commit abc1234 (2026-12-04)" in block and "--held-out 3 4 5" in block
    # the weak floor: 2, 3, 2 of 10 right on seeds 0-2; 3, 4, 3 on the held-out seeds; range over all six
    assert "| weak floor (weak model) | 23.33% | 20.00 / 30.00 / 20.00 | 0.00 | 33.33% | 30.00 / 40.00 / 30.00 | " \
           "20.00 - 40.00 |" in block
    assert "M_plus (Stage I iter 2, hybrid set)" in block
    assert "**Seeds 0, 1, 2**" in block and "**Held-out seeds 3, 4, 5**" in block
    assert block.count("sign test p =") >= 2


def test_block_without_held_out_seeds(tmp_path):
    make_runs(tmp_path)
    block = R.results_block("smoke", tmp_path, (0, 1, 2), commit="x", date="d")
    assert "held-out" not in block and "| weak floor (weak model) | 23.33% | 20.00 / 30.00 / 20.00 | 0.00 |" in block


def test_replace_block_keeps_the_rest_and_needs_the_markers():
    text = f"intro\n{R.BEGIN}\nold numbers\n{R.END}\noutro\n"
    assert R.replace_block(text, "new\n") == f"intro\n{R.BEGIN}\nnew\n{R.END}\noutro\n"
    with pytest.raises(ValueError, match="README.md: needs exactly one"):
        R.replace_block("no markers", "new\n")


def test_the_readme_has_one_generated_block():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(R.BEGIN) == 1 and text.count(R.END) == 1


def test_missing_runs_say_what_to_run(tmp_path, capsys):
    assert R.main(["--preset", "smoke", "--runs-dir", str(tmp_path), "--print"]) == 1
    assert "python -m w2s_lib --preset smoke" in capsys.readouterr().err
