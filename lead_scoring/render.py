"""The text a person reads at the terminal: each summary or report the CLI prints, as lines.

The pipelines, the lab and the pure core return data (frozen summaries and reports); only the CLI turns
them into text, here. The summaries' types are imported for annotations only, so importing this module
loads none of the code it renders (the CLI starts without pandas).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lead_scoring.schema import MODEL_PERFORMANCE, UNMATCHED_OUTCOMES

if TYPE_CHECKING:
    from lead_scoring.core.feedback import Figures
    from lead_scoring.core.scoring import ScoringSummary
    from lead_scoring.lab.backtest import MonthlyReport
    from lead_scoring.lab.evaluate import OutOfTimeReport, PredictionsReport
    from lead_scoring.lab.experiment import SelectionResult
    from lead_scoring.lab.replay import ReplayReport
    from lead_scoring.pipelines.data import PrepareSummary
    from lead_scoring.pipelines.feedback import FeedbackSummary
    from lead_scoring.pipelines.training import TrainingSummary


# -- the daily commands: prepare, train, score, feedback --------------------------------------------


def prepare_lines(summary: PrepareSummary) -> list[str]:
    s = summary
    dropped = f"{s.duplicates_dropped} exact duplicate(s)" if s.duplicates_dropped else "none"
    lines = [
        f"source           {s.source}",
        f"rows read        {s.rows_read}",
        f"rows dropped     {dropped}",
        f"rows written     {s.rows_written} to {', '.join(s.tables)}",
    ]
    if s.positives is not None:
        lines.append(f"conversions      {s.positives} ({s.positives / max(s.rows_written, 1):.1%})")
    if s.unknown_columns:
        lines.append(f"ignored columns  {', '.join(s.unknown_columns)}")
    if s.ids_derived:
        lines.append("lead_id          derived from each row (the export has no lead_id column)")
    rate = s.rows_read / s.seconds if s.seconds else float("inf")
    lines.append(f"time             {s.seconds:.2f} s ({rate:,.0f} rows/s)")
    return lines


def training_lines(summary: TrainingSummary) -> list[str]:
    s, m = summary, summary.metrics
    lines = [
        f"mlflow run       {s.run_id}",
        f"training leads   {s.fingerprint.get('rows')} created {s.fingerprint.get('created_from')} .. "
        f"{s.fingerprint.get('created_to')}",
        f"validation       auc {m['auc']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
        f"f1 {m['f1']:.3f}  at threshold {m['threshold']:.3f} (newest leads, out of sample)",
        f"decision policy  {s.policy}",
        f"backtests        {s.backtests}",
        f"recipe           {s.recipe or 'plain (no search)'}",
        *(f"  {line}" for line in s.recipes),
        f"registered       version {s.version}" + ("" if s.promoted else " (alias challenger: it scores as a shadow)"),
        f"decision         {'PROMOTED to champion' if s.promoted else 'not promoted'}",
    ]
    lines += [f"  - {reason}" for reason in s.reasons]
    return lines


def scoring_lines(summary: ScoringSummary) -> list[str]:
    s = summary
    share = s.positives / s.rows_scored if s.rows_scored else 0.0
    lines = [
        f"source           {s.source}",
        f"model            {s.model_name} v{s.model_version} (champion)",
        f"leads scored     {s.rows_scored}"
        + (f" ({s.duplicates_dropped} exact duplicate(s) dropped)" if s.duplicates_dropped else ""),
        f"predicted apply  {s.positives} ({share:.1%}{_expected_share(s.monitoring.expected_positive_share)})",
        "buckets          " + ", ".join(f"{k} {v}" for k, v in s.buckets.items()),
    ]
    if s.thin:  # only what is unusual against the training leads
        lines.append("thin evidence    " + ", ".join(_thin_words(k, v) for k, v in s.thin.items()))
    if s.decision:
        lines.append(f"decision         {s.decision}")
    lines.append(f"monitoring       {s.status}: {s.monitoring.summary}")
    if s.alarm:
        lines.append(f"alarm            {s.alarm}")
    lines.append(f"time             {s.seconds:.2f} s")
    return lines


def _expected_share(expected: float | None) -> str:
    known = expected is not None and not math.isnan(expected)  # NaN: a model from before decision policies
    return f"; the decision policy expects {expected:.1%}" if known else ""


def _thin_words(key: str, figures: Mapping[str, float | None]) -> str:
    from lead_scoring.core.evidence import UNUSUAL_WORDS  # pandas: not loaded before a command needs it

    words = f"{UNUSUAL_WORDS.get(key, key)} {figures['count']} ({figures['share']:.0%}"
    if figures.get("training_share") is not None:
        words += f" vs {figures['training_share']:.0%} in training"
    return words + ")"


def feedback_lines(summary: FeedbackSummary) -> list[str]:
    i, p = summary.ingest, summary.performance
    versions = len({w.model_version for w in p.weeks})
    lines = [
        f"source           {i.source}",
        f"outcomes read    {i.rows_read}"
        + (f" ({i.duplicates_dropped} exact duplicate(s) dropped)" if i.duplicates_dropped else ""),
        f"scored leads     {i.matched} matched: {i.new} new, {i.changed} label(s) changed (newer wins), "
        f"{i.unchanged} unchanged, {i.stale} older label(s) ignored",
        f"never scored     {i.unmatched} (kept aside in {UNMATCHED_OUTCOMES}; "
        f"{i.rematched} kept aside before matched now)",
        f"labels ignored   {i.after_arrival} dated after the file arrived, "
        f"{i.before_lead} dated before their lead was created",
        f"performance      {len(p.weeks)} week(s) of {versions} version(s) in {MODEL_PERFORMANCE}: "
        f"{p.count('ok')} ok, {p.count('below_target')} below target, {p.count('too_few_labels')} too few labels",
        f"latest week      {p.verdict.describe()}",
    ]
    if p.shadow is not None:
        lines.append(f"shadow           {p.shadow.line()}")
    for version, figures in summary.realized.items():
        labelled = f"{figures.leads_labelled} labelled lead(s) of this file"
        lines.append(f"realized v{version:<6} {labelled}: {_figures(figures)}")
    a = summary.appended
    lines.append(
        f"model_input      +{a.added} newly labelled lead(s), {a.relabelled} relabelled ({a.model_input_rows} rows)"
    )
    if summary.retrain_reason:
        lines.append(f"next             `lead-scoring train` ({summary.retrain_reason})")
    lines.append(f"time             {summary.seconds:.2f} s")
    return lines


def _figures(figures: Figures) -> str:
    def one(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return f"AUC {one(figures.auc)}  precision {one(figures.precision)}  recall {one(figures.recall)}"


# -- the lab: evaluate, backtest, experiment ---------------------------------------------------------


def out_of_time_lines(report: OutOfTimeReport) -> list[str]:
    r = report
    rows = [
        f"out-of-time evaluation on {r.leads} labelled leads created {r.since} .. {r.until}",
        f"champion v{r.champion_version} trained on leads up to {r.trained_until}; "
        f"reference trained on every lead before {r.since}",
        "",
        f"{'':<34}{'AUC':>8}{'precision':>11}{'recall':>8}{'F1':>8}{'cut':>8}",
    ]
    for name, m in (("lead_scoring champion", r.champion), ("reference (one-hot + defaults)", r.reference)):
        rows.append(
            f"{name:<34}{m['auc']:>8.3f}{m['precision']:>11.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['threshold']:>8.3f}"
        )
    t = r.targets
    rows.append(f"{'targets':<34}{'> ' + str(t['auc']):>8}{'> ' + str(t['precision']):>11}{'> ' + str(t['recall']):>8}")
    met = all(r.champion[k] > v for k, v in t.items())
    rows.append("")
    rows.append(
        f"champion meets all three targets: {'yes' if met else 'NO'}; "
        f"AUC vs reference: {r.champion['auc'] - r.reference['auc']:+.3f}"
    )
    return rows


def predictions_lines(report: PredictionsReport) -> list[str]:
    m = report.metrics
    return [
        f"predictions of model v{report.model_version} joined by lead_id with the labels in {report.source}: "
        f"{report.leads} leads",
        f"AUC {m['auc']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  "
        f"(predicted_label as stored, under the model's decision policy; flagged share {m['positive_rate']:.1%})",
    ]


def backtest_lines(report: MonthlyReport) -> list[str]:
    t = report.targets
    rows = [
        "each month scored by a model trained only on the leads before it "
        "(the chosen policy scored day by day, as the daily DAG would)",
        "",
        f"{'month':<9}{'leads':>7}{'base':>7}{'AUC':>7}   {'old rule P / R / flagged':<26}"
        f"{'policy':<22}{'P / R / flagged':<20}",
    ]
    for m in report.months:
        o, d = m.old_rule, m.daily
        rows.append(
            f"{m.month:<9}{m.leads:>7}{m.base_rate:>7.3f}{m.auc:>7.3f}   "
            f"{o['precision']:.3f} / {o['recall']:.3f} / {o['positive_rate']:>4.0%}      "
            f"{m.policy:<22}{d['precision']:.3f} / {d['recall']:.3f} / {d['positive_rate']:>4.0%}"
        )
    missed = [
        f"{m.month} {name}" for m in report.months for name in ("precision", "recall") if not m.daily[name] > t[name]
    ] + [f"{m.month} auc" for m in report.months if not m.auc > t["auc"]]
    rows.append("")
    rows.append(
        f"targets: AUC > {t['auc']}, precision > {t['precision']}, recall > {t['recall']}; "
        + ("the chosen policy meets them in every month" if not missed else "missed: " + ", ".join(missed))
    )
    return rows


def selection_lines(result: SelectionResult) -> list[str]:
    rows = [f"{'learner':<34}{'AUC':>8}{'precision':>11}{'recall':>8}{'F1':>8}"]
    for _, row in result.table.iterrows():
        rows.append(f"{row['Model']:<34}{row['AUC']:>8.3f}{row['Prec.']:>11.3f}{row['Recall']:>8.3f}{row['F1']:>8.3f}")
    return rows


def replay_lines(report: ReplayReport) -> list[str]:
    """Month by month figures, the retrains with the gate's reasons, the alarm days."""

    def fmt(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:.3f}"

    rows = [
        f"replayed {report.start} .. {report.end}: {report.days} day(s), first champion v{report.first_version}",
        *(
            [f"converting leads of each replayed month thinned to a base rate of {report.base_rate}"]
            if report.base_rate is not None
            else []
        ),
        "",
        f"{'month':<9}{'leads':>7}{'base':>7}{'AUC':>7}{'prec':>7}{'recall':>7}{'flagged':>9}",
    ]
    for m in report.months:
        rows.append(
            f"{m.month:<9}{m.leads:>7}{m.base_rate:>7.3f}{fmt(m.auc):>7}{fmt(m.precision):>7}"
            f"{fmt(m.recall):>7}{m.flagged_share:>9.1%}"
        )
    rows += ["", f"retrains: {len(report.retrains)}, promoted {sum(r.promoted for r in report.retrains)}"]
    if report.skipped:
        rows.append(f"  no newly labelled leads, no retrain: {', '.join(report.skipped)}")
    for r in report.retrains:
        rows.append(f"  {r.day} v{r.version} {'PROMOTED' if r.promoted else 'not promoted'}")
        rows += [f"      - {reason}" for reason in r.reasons]
    rows += ["", f"monitor failed on {len(report.alarms)} of {report.days} day(s)"]
    rows += [f"  {a.day} {a.message}" for a in report.alarms]
    t = report.targets
    missed = [
        f"{m.month} {name}"
        for m in report.months
        for name in ("precision", "recall")
        if t and not (getattr(m, name) or 0.0) > t[name]
    ]
    rows += ["", "targets met every month" if not missed else "missed: " + ", ".join(missed)]
    if report.run_id:
        rows.append(f"mlflow run {report.run_id} (experiment {report.experiment})")
    rows.append(f"time {report.seconds:.0f} s")
    return rows
