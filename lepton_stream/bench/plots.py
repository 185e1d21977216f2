"""Pictures of a benchmark run, written beside its JSON: what people would rather look at.

- `<name>-throughput.png`: saturation throughput of each runner, head to head
  (medians of alternated runs, each run a dot), beside the data-plane floor
  measured in the same run;
- `<name>-latency.png`: event-to-score and event-to-visible-alert percentiles
  against the offered rate;
- `<name>-alert-latency.png`: visible-alert percentiles at 5,000/s and the
  saturation throughput against the checkpoint interval.

Run on an existing result: `python -m lepton_stream.bench.plots benchmarks/results/pipeline.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt  # noqa: E402


def throughput_plot(result: dict[str, Any], path: Path) -> Path | None:
    sat = result.get("saturation") or {}
    h2h, floor = sat.get("head_to_head"), sat.get("floor")
    if not h2h:
        return None
    groups = [("scoring", h2h)] + ([("data plane alone (floor)", floor)] if floor else [])
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    for g, (_, runs) in enumerate(groups):
        for k, (runner, colour) in enumerate((("flink", "#1f77b4"), ("loop", "#ff7f0e"))):
            x = g + (k - 0.5) * width
            ax.bar(x, runs[f"{runner}_median"], width, color=colour, alpha=0.85,
                   label=("Flink job" if runner == "flink" else "consumer loop") if g == 0 else None)
            ax.scatter([x] * len(runs[f"{runner}_events_per_s"]), runs[f"{runner}_events_per_s"], color="black", s=10,
                       zorder=3)
            ax.annotate(f"{runs[f'{runner}_median']:,}", (x, runs[f"{runner}_median"]), ha="center", va="bottom",
                        fontsize=8)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])
    ax.set_ylabel("events / s (median of alternated runs; dots: each run)")
    ax.set_title(f"Saturation throughput, exactly-once ({result.get('date', '')[:10]})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_plot(result: dict[str, Any], path: Path) -> Path | None:
    series = [result["latency"]] if result.get("latency") else []
    series += result.get("latency_compare") or []
    series = [s for s in series if s.get("rates")]
    if not series:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, key, title in ((axes[0], "event_to_score_ms", "event -> score"),
                           (axes[1], "event_to_visible_alert_ms", "event -> alert visible (read_committed)")):
        for i, s in enumerate(series):
            rows = sorted((r for r in s["rates"] if r.get(key)), key=lambda r: r["target_per_s"])
            if not rows:
                continue
            label = f"{s['runner']} {s['pipeline']} p{s.get('parallelism', 1)}, bundle {s.get('bundle_time_ms')} ms"
            for q, style in (("p50", "-"), ("p99", "--")):
                ys = [float("nan") if r[key][q] is None else r[key][q] for r in rows]  # no alerts: no point
                ax.plot([r["target_per_s"] for r in rows], ys, style, marker="o",
                        color=f"C{i}", label=f"{label} {q}")
        ax.set_xlabel("offered rate (events / s)")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.set_title(title)
    axes[1].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def alert_latency_plot(result: dict[str, Any], path: Path) -> Path | None:
    entries = result.get("alert_latency") or []
    entries = [e for e in entries if e.get("visible_alert_p99_ms") is not None]
    if not entries:
        return None
    xs = [e["checkpoint_interval_ms"] for e in entries]
    fig, ax = plt.subplots(figsize=(7, 4))
    for q, style in (("p50", "-"), ("p99", "--")):
        ax.plot(xs, [e[f"visible_alert_{q}_ms"] for e in entries], style, marker="o", color="C0",
                label=f"visible alert {q}, 5,000/s")
        half = [(e.get("at_half_saturation") or {}).get(f"visible_alert_{q}_ms") for e in entries]
        if any(v is not None for v in half):
            ax.plot(xs, [float("nan") if v is None else v for v in half], style, marker="o", color="C2",
                    label=f"visible alert {q}, half saturation")
    ax.axhline(500, color="grey", linewidth=0.8, linestyle=":", label="500 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")  # past saturation a backlog puts 5,000/s in seconds
    ax.set_xlabel("checkpoint interval (ms)")
    ax.set_ylabel("event -> alert readable (read_committed), ms")
    right = ax.twinx()
    right.plot(xs, [e["saturation_per_s"] for e in entries], marker="s", color="C1", label="saturation")
    right.set_ylabel("saturation throughput (events / s)")
    (h1, l1), (h2, l2) = ax.get_legend_handles_labels(), right.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax.set_title("Alert latency vs checkpoint interval")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(result: dict[str, Any], json_path: Path) -> list[Path]:
    stem = json_path.with_suffix("")
    made = [throughput_plot(result, Path(f"{stem}-throughput.png")), latency_plot(result, Path(f"{stem}-latency.png")),
            alert_latency_plot(result, Path(f"{stem}-alert-latency.png"))]
    return [p for p in made if p is not None]


def main(argv: list[str] | None = None) -> int:
    for name in (argv if argv is not None else sys.argv[1:]) or ["benchmarks/results/pipeline.json"]:
        path = Path(name)
        for out in write_plots(json.loads(path.read_text()), path):
            print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
