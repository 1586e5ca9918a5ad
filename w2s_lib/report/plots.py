"""The report's figures: accuracy per model, PGR, and the selection's kept share and quality."""
from __future__ import annotations

from pathlib import Path

from .collect import Collected

# ---------------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------------
def _bar_keys(res: Collected) -> list[str]:
    return [k for k in res.keys() if res.values(k)]


def _finish(fig, ax, ys, labels, title: str, xlabel: str, path: str | Path | None):
    """A horizontal chart's model labels, axis label and title; saved to `path` when given."""
    ax.set_yticks(ys, labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def plot_accuracy(res: Collected, path: str | Path | None = None):
    """Mean test accuracy per model (bars, ± sd), each seed as a dot; weak floor and ceiling as lines."""
    import matplotlib.pyplot as plt

    keys = _bar_keys(res)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.4))
    ys = list(range(len(keys)))[::-1]
    means = [res.summary[k] for k in keys]
    sds = [res.summary["spread"][k]["std"] or 0.0 for k in keys]
    colors = ["tab:gray" if k in ("weak", "strong_ceiling", "strong_icl", "full_weak_ft") else "tab:blue" for k in keys]
    ax.barh(ys, means, xerr=sds, color=colors, alpha=0.8, capsize=3)
    for y, k in zip(ys, keys):
        vals = list(res.values(k).values())
        ax.plot(vals, [y] * len(vals), "k.", ms=6)
    for k, style in (("weak", ":"), ("strong_ceiling", "--")):
        if res.summary.get(k) is not None:
            ax.axvline(res.summary[k], color="k", ls=style, lw=1)
    ax.set_xlim(0, max([1e-3] + [v for k in keys for v in res.values(k).values()]) * 1.15)
    return _finish(fig, ax, ys, [res.label(k) for k in keys], f"{res.preset.name}: accuracy by stage",
                   f"test accuracy (mean over {len(res.runs)} seed{'s' * (len(res.runs) != 1)}; dots = seeds)", path)


def plot_pgr(res: Collected, path: str | Path | None = None):
    """PGR per model (bars: PGR of the mean accuracies; dots: per seed); None when PGR is undefined."""
    import matplotlib.pyplot as plt

    s = res.summary
    keys = [k for k in _bar_keys(res) if k not in ("weak", "strong_ceiling") and s["pgr"].get(k) is not None]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.4))
    ys = list(range(len(keys)))[::-1]
    ax.barh(ys, [s["pgr"][k] for k in keys], color="tab:green", alpha=0.8)
    for y, k in zip(ys, keys):
        vals = [v for sd in res.seeds if (v := s["per_seed"][str(sd)]["pgr"].get(k)) is not None]
        ax.plot(vals, [y] * len(vals), "k.", ms=6)
    ax.axvline(0, color="k", lw=1)
    ax.axvline(1, color="k", ls="--", lw=1)
    return _finish(fig, ax, ys, [res.label(k) for k in keys], f"{res.preset.name}: performance gap recovered",
                   "PGR = (acc - weak) / (ceiling - weak)   (0 = weak floor, 1 = ceiling)", path)


def plot_selection(res: Collected, path: str | Path | None = None):
    """ANALYSIS ONLY (uses res.selection): share of train_2 kept vs accuracy of the kept answers, per seed and
    iteration, with the accuracy over all questions at share 1; None when there is no selection data."""
    import matplotlib.pyplot as plt

    rows = res.selection
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    markers = {1: "o", 2: "s", 3: "^"}
    for side, color in (("weak", "tab:orange"), ("icl", "tab:purple")):
        for r in rows:
            mk = markers.get(r["iteration"], "D")
            if r[f"{side}_kept"] is not None:
                ax.plot([1.0, r["kept_share"]], [r[f"{side}_all"], r[f"{side}_kept"]], color=color, alpha=0.35, lw=1)
                ax.plot(r["kept_share"], r[f"{side}_kept"], mk, color=color, ms=7)
            ax.plot(1.0, r[f"{side}_all"], mk, color=color, ms=7, mfc="none")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="tab:orange", marker="o", ls="", label="weak-side answers"),
               Line2D([], [], color="tab:purple", marker="o", ls="", label="ICL-side answers")]
    handles += [Line2D([], [], color="k", marker=markers.get(i, "D"), ls="", label=f"iteration {i}")
                for i in sorted({r["iteration"] for r in rows})]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("share of train_2 kept (1.0 = all questions, hollow markers)")
    ax.set_ylabel("accuracy vs train_2 gold")
    ax.set_title("analysis only: share of train_2 kept vs accuracy of the answers")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig
