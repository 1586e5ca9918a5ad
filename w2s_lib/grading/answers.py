"""Answer grading: find the final answer in a model output and decide whether two answers are equal.

Public API (other modules import exactly these names):

    extract_answer(response) -> str            final answer of a model output ("" if none)
    is_correct(response, gold, grader="default") -> bool   response's final answer equals the gold final answer
    answers_match(a, b) -> bool                two extracted answers are mathematically equal
    equations_match(a, b) -> bool              two equations are the same (left sides count; OlympicArena EQ)
    canonical_key(answer) -> str               grouping key: equal keys => answers_match
    grade_batch(responses, golds, ...)         is_correct over many rows, symbolic checks in a process pool
    match_batch(pairs, ...)                    answers_match over many pairs
    cluster_answers(answers) / cluster_batch   group equal answers (majority voting, weak-vs-ICL agreement)
    majority(answers) -> Majority              the most common answer and its share (Stage II confidence)
    grading_stats() -> dict                    symbolic comparisons, timeouts, worker crashes so far

Extraction (extract.py) reads the paper's formats (`#### N`, "The answer is", `\\boxed{}`) and free-form
ones: "Answer: $...$", "Final Answer: the largest value is 34.", a run of boxes joined by "and" (a list), and,
with no marker, a concluding sentence ("Therefore $x \\geq 5$ is the solution.").

How a comparison is decided, cheapest first:
1. `analyze` (normalize.py) cleans both answers (delimiters, units, `\\dfrac`, `x =`, `f(3) =`, ...) and
   computes a canonical key. Equal keys -> equal.
2. Plain numbers are compared exactly as fractions (`0.25` = `\\frac14` = `1/4`), with one rounding rule
   (a decimal with >= 3 places equals the exact value it rounds: `0.333` = `1/3`, `1.414` = `\\sqrt2`);
   tuples/sets of plain numbers, letters, words, clock times and ratios are settled here too (decide.py).
   Cheap *negatives* come next: answers of different kinds (a tuple is never a set, a number never a matrix,
   an interval union, an inequality or `a \\pm b`), constant expressions whose float values differ, and
   formulas whose values differ at a fixed point (numeric.py). A one-variable inequality is compared with
   an interval by rewriting it (`x \\geq 2` = `[2, \\infty)`). This is why the 7,000 GSM8K weak outputs grade
   in well under a second and most majority-vote comparisons never reach sympy.
3. Everything else (`\\sqrt`, `\\pi`, polynomials, trigonometric identities, matrices, intervals with
   expressions, equations) goes to math-verify in a worker process under a wall-clock limit (pool.py).

Time budget and conservative verdicts. No input makes these functions raise, and each verdict comes within a
bounded time. The in-process steps (extraction, normalisation, cheap checks) work on bounded input: prose rules
read at most 3,000 characters, an answer over 1,000 characters is compared as an exact string (not
normalised), a response or gold over MAX_INLINE_CHARS (20,000) is graded whole in a worker under `timeout`.
The symbolic step runs in a worker under `timeout` (default 5 s); what sympy could not finish (power towers,
huge exponents, nesting deeper than 20, over 400 characters; `pool.sympy_safe`) is refused at once.
A refusal or a timeout is "not equal": the grader may miss an equality on such input, never invent one.
benchmarks/results/grading.json reports the worst time per verdict measured on the hostile inputs.

`canonical_key` vs `answers_match`: equal keys always match (the key is built from the same normalisation).
The key is *finer* than the match where only sympy or rounding can see equality: `\\sqrt{8}` vs
`2\\sqrt{2}`, `0.333` vs `1/3`, `(x+1)^2` vs `x^2+2x+1` get different keys but match. `cluster_answers` repairs
this by merging key groups whose representatives match. The key is never coarser than the match.
Known deliberate choices: `50\\%` = `50` (percent is a unit) but `50\\%` != `0.5`; `x = 3` = `3` = `y = 3`
(a single-variable assignment is its value); `3:2` != `6:4` != `1.5` (ratios and clock times compare part by
part); single letters and words compare case-insensitively; a bare
comma list `1, -2` is an unordered set (MATH's "enter all solutions"), `(1,-2)` an ordered tuple; `58,500`
with a 3-digit group is the number 58500, not a list.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

from w2s_lib.grading.extract import extract_answer, last_boxed
from w2s_lib.grading.decide import decide, symbolic_form
from w2s_lib.grading.normalize import Parsed, analyze, clean_latex, squash
from w2s_lib.grading.pool import STATS, shared_pool

__all__ = [
    "extract_answer",
    "is_correct",
    "answers_match",
    "equations_match",
    "canonical_key",
    "gold_answer",
    "grade_batch",
    "match_batch",
    "cluster_answers",
    "cluster_batch",
    "majority",
    "Majority",
    "grading_stats",
    "DEFAULT_TIMEOUT",
    "MAX_INLINE_CHARS",
    "GRADERS",
]

log = logging.getLogger("w2s_lib.grading")

# Seconds one symbolic comparison may take before it is killed and counted as "not equal".
DEFAULT_TIMEOUT = 5.0
# A response or gold longer than this is graded entirely in a worker process, under the same time limit.
MAX_INLINE_CHARS = 20_000

# Symbolic verdicts by cleaned-LaTeX pair: majority voting compares the same strings many times.
_SYMBOLIC_CACHE: dict[tuple[str, str], bool] = {}
_CACHE_LIMIT = 500_000


def canonical_key(answer: str) -> str:
    """A grouping key: answers with equal keys are equal (see the module docstring for where it is finer).

    "" for an empty answer. Numbers become reduced fractions ("0.25" -> "1/4", "1,000" -> "1000"), letters and
    words lower case, sets sorted, and other LaTeX a cleaned, space-free string.
    """
    return analyze(answer or "").key


def gold_answer(gold: str) -> str:
    """The final answer inside a gold string: a bare answer is kept, a worked solution is extracted."""
    gold = (gold or "").strip()
    if "####" in gold or "answer is" in gold.lower():
        return extract_answer(gold)
    box = last_boxed(gold)
    return box.strip() if box is not None else gold


def _pair_key(a: Parsed, b: Parsed) -> tuple[str, str]:
    x, y = symbolic_form(a, b), symbolic_form(b, a)
    return (x, y) if x <= y else (y, x)


def match_batch(
    pairs: Sequence[tuple[str, str]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    progress: bool = False,
    desc: str = "matching answers",
) -> list[bool]:
    """answers_match for every (a, b) pair: cheap checks first, the rest in the symbolic process pool."""
    parsed = [(analyze(a or ""), analyze(b or "")) for a, b in pairs]
    out: list[bool | None] = [decide(pa, pb) for pa, pb in parsed]
    pending: dict[tuple[str, str], list[int]] = {}
    for i, v in enumerate(out):
        if v is None:
            k = _pair_key(*parsed[i])
            if k in _SYMBOLIC_CACHE:
                out[i] = _SYMBOLIC_CACHE[k]
            else:
                pending.setdefault(k, []).append(i)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pairs), desc=desc, unit="ans")
        bar.update(len(pairs) - sum(len(v) for v in pending.values()))
    if pending:
        todo = list(pending)

        def done(j: int, equal: bool) -> None:
            if bar is not None:
                bar.update(len(pending[todo[j]]))

        verdicts = shared_pool(workers).run(todo, timeout=timeout, on_result=done)
        if len(_SYMBOLIC_CACHE) > _CACHE_LIMIT:
            _SYMBOLIC_CACHE.clear()
        for k, v in zip(todo, verdicts):
            _SYMBOLIC_CACHE[k] = v
            for i in pending[k]:
                out[i] = v
    if bar is not None:
        bar.close()
    return [bool(v) for v in out]


def answers_match(a: str, b: str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """True if two extracted answers are mathematically equal (symmetric; an empty answer matches nothing)."""
    return match_batch([(a, b)], timeout=timeout)[0]


def equations_match(a: str, b: str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Two answers that must both be equations are the same equation (`x+y=1` = `2x+2y=2`, `y=x^2` != `z=x^2`).

    Unlike answers_match, a single-variable assignment is not reduced to its value, so the left side counts.
    """
    x, y = clean_latex(a or ""), clean_latex(b or "")
    if "=" not in x or "=" not in y:
        return False
    if squash(x) == squash(y):
        return True
    k = (x, y) if x <= y else (y, x)
    if k not in _SYMBOLIC_CACHE:
        _SYMBOLIC_CACHE[k] = shared_pool().run([k], timeout=timeout)[0]
    return _SYMBOLIC_CACHE[k]


GRADERS = ("default", "official")


def is_correct(response: str, gold: str, *, timeout: float = DEFAULT_TIMEOUT, grader: str = "default") -> bool:
    """True if the final answer of `response` equals the gold final answer. An empty response is never correct.

    Never raises on any string input, and returns within a bounded time (see "Time budget" in the module
    docstring). `grader` names the grading rules: "default" is this module's; "official" the paper release's
    verdict (w2s_lib.grading.official.is_correct_official: its normalised strings compared exactly)."""
    return grade_batch([response], [gold], timeout=timeout, progress=False, grader=grader)[0]


def grade_batch(
    responses: Sequence[str],
    golds: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    progress: bool = True,
    grader: str = "default",
) -> list[bool]:
    """is_correct for every (response, gold) row, with a progress bar; symbolic checks run in parallel.

    A row whose response or gold is longer than MAX_INLINE_CHARS is graded whole in a worker process under
    `timeout` (extraction included); a timeout there is "not correct"."""
    if grader not in GRADERS:
        raise ValueError(f"unknown grader {grader!r}; known: {', '.join(GRADERS)}")
    if len(responses) != len(golds):
        raise ValueError(f"grade_batch: {len(responses)} responses but {len(golds)} golds")
    if grader == "official":
        from .official import is_correct_official
        return [is_correct_official(r or "", g or "") for r, g in zip(responses, golds)]
    rows = [(r or "", g or "") for r, g in zip(responses, golds)]
    big = [i for i, (r, g) in enumerate(rows) if len(r) > MAX_INLINE_CHARS or len(g) > MAX_INLINE_CHARS]
    small = [i for i in range(len(rows)) if len(rows[i][0]) <= MAX_INLINE_CHARS and len(rows[i][1]) <= MAX_INLINE_CHARS]
    out = [False] * len(rows)
    pairs = [(extract_answer(rows[i][0]), gold_answer(rows[i][1])) for i in small]
    for i, v in zip(small, match_batch(pairs, timeout=timeout, workers=workers, progress=progress, desc="grading")):
        out[i] = v
    if big:
        log.info("grading %d oversized row(s) in worker processes (limit %.1f s each)", len(big), timeout)
        for i, v in zip(big, shared_pool(workers).run([rows[i] for i in big], timeout=timeout, kind="grade")):
            out[i] = v
    return out


def cluster_batch(
    groups: Sequence[Sequence[str]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    progress: bool = False,
) -> list[list[int]]:
    """Cluster labels for each list of extracted answers (e.g. 10 samples per question, or [weak, icl]).

    Labels are 0, 1, 2, ... in order of first appearance; an empty answer gets -1 and joins no cluster.
    Answers with the same canonical key are grouped first; then key groups whose representatives
    `answers_match` are merged (all symbolic checks of all groups go to the pool in one batch).
    """
    plans = []  # per group: (key of each answer, representative of each unique key)
    pairs: list[tuple[str, str]] = []
    for answers in groups:
        keys = [canonical_key(a) for a in answers]
        reps: dict[str, str] = {}
        for a, k in zip(answers, keys):
            if k and k not in reps:
                reps[k] = a
        uniq = list(reps)
        links = [(i, j, len(pairs) + n) for n, (i, j) in enumerate(
            (i, j) for i in range(len(uniq)) for j in range(i + 1, len(uniq)))]
        pairs.extend((reps[uniq[i]], reps[uniq[j]]) for i, j, _ in links)
        plans.append((keys, uniq, links))
    verdicts = match_batch(pairs, timeout=timeout, workers=workers, progress=progress, desc="clustering")
    out = []
    for keys, uniq, links in plans:
        parent = list(range(len(uniq)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, j, p in links:
            if verdicts[p]:
                parent[find(j)] = find(i)
        index = {k: n for n, k in enumerate(uniq)}
        label_of_root: dict[int, int] = {}
        labels = []
        for k in keys:
            if not k:
                labels.append(-1)
                continue
            root = find(index[k])
            labels.append(label_of_root.setdefault(root, len(label_of_root)))
        out.append(labels)
    return out


def cluster_answers(answers: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT) -> list[int]:
    """Cluster labels for one list of extracted answers (see cluster_batch)."""
    return cluster_batch([answers], timeout=timeout)[0]


@dataclass(frozen=True)
class Majority:
    """The most common answer among samples. `confidence` = count / total (empty answers count in total)."""

    answer: str  # first sample of the largest cluster ("" if every sample was empty)
    count: int
    total: int
    labels: tuple[int, ...]

    @property
    def confidence(self) -> float:
        return self.count / self.total if self.total else 0.0


def majority(answers: Sequence[str], *, labels: Iterable[int] | None = None) -> Majority:
    """Majority vote over extracted answers; ties go to the cluster seen first."""
    labels = list(labels) if labels is not None else cluster_answers(answers)
    counts: dict[int, int] = {}
    for lab in labels:
        if lab >= 0:
            counts[lab] = counts.get(lab, 0) + 1
    if not counts:
        return Majority("", 0, len(answers), tuple(labels))
    best = max(counts, key=lambda lab: (counts[lab], -lab))
    return Majority(answers[labels.index(best)], counts[best], len(answers), tuple(labels))


def grading_stats() -> dict:
    """Counters since start-up: symbolic comparisons run, timeouts, worker crashes, parser errors, cache size."""
    return {**STATS, "symbolic_cache": len(_SYMBOLIC_CACHE)}
