"""The loss curves of a run's training stages, from the trainer log each stage keeps (`<stage>/train_log.jsonl`,
written by `RunContext.train`: the trainer's `log_history`, one row per logging step).

    from w2s_lib.stages.train_logs import plot_loss_curves
    plot_loss_curves(ctx, ["sft_iter1_hybrid", "sft_full_weak"])      # notebooks 03 and 04
"""
from __future__ import annotations

from typing import Any, Sequence

from w2s_lib.run.context import RunContext
from w2s_lib.run.jsonl import read_jsonl


def loss_curve(ctx: RunContext, stage: str) -> list[tuple[int, float]]:
    """(step, training loss) of a committed training stage, in step order; [] when it logged none (a stage
    computed before logs were kept, or one that trained nothing)."""
    st = ctx.store.require(stage)
    path = st.dir / "train_log.jsonl"
    if not path.is_file():
        return []
    return [(int(r["step"]), float(r["loss"])) for r in read_jsonl(path) if "loss" in r and "step" in r]


def plot_loss_curves(ctx: RunContext, stages: Sequence[str], *, labels: dict[str, str] | None = None,
                     ax: Any = None, title: str = "training loss") -> Any:
    """One line per stage that has a log; returns the axes (None when no stage logged anything)."""
    import matplotlib.pyplot as plt

    curves = {s: loss_curve(ctx, s) for s in stages if ctx.store.has(s)}
    curves = {s: c for s, c in curves.items() if c}
    if not curves:
        print("no training logs to plot (stages computed before logs were kept, or none trained)")
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for s, c in curves.items():
        ax.plot([x for x, _ in c], [y for _, y in c], marker="." if len(c) < 30 else None,
                label=(labels or {}).get(s, s))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (logged every `logging_steps`)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.grid(alpha=0.3)
    return ax
