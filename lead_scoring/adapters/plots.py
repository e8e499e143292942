"""Pictures a person looks at in the MLflow UI: ROC, precision-recall, confusion, importance, calibration, gain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


def write_evaluation_plots(
    y_true: NDArray[Any], y_score: NDArray[Any], threshold: float, importance: dict[str, float], out_dir: Path
) -> list[Path]:
    """Write the five PNGs into ``out_dir`` and return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=float)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:  # a matplotlib Figure (matplotlib 3.7 has no types)
        written.append(_saved(fig, out_dir / name))

    fig, ax = plt.subplots(figsize=(5, 5))
    RocCurveDisplay.from_predictions(y_true, y_score, ax=ax, name="validation leads")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title("ROC curve")
    save(fig, "roc_curve.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    PrecisionRecallDisplay.from_predictions(y_true, y_score, ax=ax, name="validation leads")
    predicted = y_score >= threshold
    recall = predicted[y_true == 1].mean()
    precision = y_true[predicted].mean() if predicted.any() else 0.0
    ax.scatter([recall], [precision], color="crimson", zorder=3, label=f"threshold {threshold:.3f}")
    ax.legend(loc="lower left")
    ax.set_title("Precision-recall")
    save(fig, "precision_recall_curve.png")

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay.from_predictions(
        y_true, predicted.astype(int), display_labels=["no application", "application"], ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix at {threshold:.3f}")
    save(fig, "confusion_matrix.png")

    fig, ax = plt.subplots(figsize=(6, 4.5))
    names = sorted(importance, key=lambda name: importance[name])
    ax.barh(names, [importance[n] for n in names], color="steelblue")
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance")
    save(fig, "feature_importance.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(y_true, y_score, n_bins=10, ax=ax, name="validation leads")
    ax.set_title("Calibration")
    save(fig, "calibration.png")
    return written


def write_backtest_plot(rows: list[dict[str, Any]], targets: dict[str, float], out_path: Path) -> Path:
    """The chosen policy month by month: AUC, precision, recall and flagged share, targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [row for row in rows if row["chosen"]]
    months = [row["month"] for row in chosen]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = {"auc": "tab:blue", "precision": "tab:green", "recall": "tab:orange", "flagged_share": "tab:grey"}
    for metric, colour in colours.items():
        ax.plot(months, [row[metric] for row in chosen], marker="o", color=colour, label=metric.replace("_", " "))
        if metric in targets:
            ax.axhline(targets[metric], color=colour, linestyle="--", linewidth=1)
    for value in sorted(set(targets.values())):  # one note per line: AUC and recall share 0.75
        names = " / ".join(name for name, target in targets.items() if target == value)
        ax.annotate(
            f"target {names} {value}",
            (0.5, value),
            xycoords=("axes fraction", "data"),
            xytext=(0, -3),
            textcoords="offset points",
            fontsize=8,
            ha="center",
            va="top",
            color="dimgrey",
        )
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("backtest month (scored by a model fitted on the leads before it)")
    policy = chosen[0]["policy"] if chosen else "?"
    ax.set_title(f"Monthly backtests, policy '{policy}' (dashed: targets)")
    ax.legend(loc="lower right")
    return _saved(fig, out_path)


def write_gain_plot(gain_rows: list[dict[str, Any]], out_path: Path, label: str = "validation leads") -> Path:
    """Cumulative gain (share of applications reached by calling the top X% of leads) with the lift
    on a second axis; the diagonal is calling at random."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    percents = [0, *(row["top_percent"] for row in gain_rows)]
    shares = [0.0, *(100 * row["share_of_applications"] for row in gain_rows)]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot(percents, shares, marker="o", color="tab:green", label=f"model ({label})")
    ax.plot([0, 100], [0, 100], linestyle=":", color="grey", label="calling at random")
    for row in gain_rows:
        if row["top_percent"] in (10, 30, 50):
            share = 100 * row["share_of_applications"]
            ax.annotate(f"{share:.0f}%", (row["top_percent"], share), textcoords="offset points", xytext=(4, -14))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 105)
    ax.set_xlabel("top X% of leads called (hottest first)")
    ax.set_ylabel("share of applications reached (%)")
    lift_ax = ax.twinx()
    lift_ax.bar(
        [row["top_percent"] for row in gain_rows], [row["lift"] for row in gain_rows], width=4, alpha=0.25,
        color="tab:blue", label="lift",
    )  # fmt: skip
    lift_ax.set_ylabel("lift over calling at random")
    lines, labels = ax.get_legend_handles_labels()
    more_lines, more_labels = lift_ax.get_legend_handles_labels()
    ax.legend(lines + more_lines, labels + more_labels, loc="lower right")
    ax.set_title("Cumulative gain: who to call first")
    return _saved(fig, out_path)


def write_replay_plot(rows: list[dict[str, Any]], targets: dict[str, float], out_path: Path) -> Path:
    """A replay month by month: AUC, precision, recall, flagged share and base rate, targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = [row["month"] for row in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = {
        "auc": "tab:blue",
        "precision": "tab:green",
        "recall": "tab:orange",
        "flagged_share": "tab:grey",
        "base_rate": "tab:purple",
    }
    for metric, colour in colours.items():
        values = [float("nan") if row[metric] is None else row[metric] for row in rows]
        ax.plot(months, values, marker="o", color=colour, label=metric.replace("_", " "))
        if metric in targets:
            ax.axhline(targets[metric], color=colour, linestyle="--", linewidth=1)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("month of the replayed leads (flags as set when they were scored)")
    ax.set_title("Replay of operation (dashed: targets)")
    ax.legend(loc="lower right")
    return _saved(fig, out_path)


def _saved(fig: Any, out_path: Path) -> Path:
    """Lay out, write and close a figure (a matplotlib Figure: matplotlib 3.7 has no types)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
