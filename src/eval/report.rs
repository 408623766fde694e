//! Human reports of a run: a console table, report.md, and report.html with inline SVG
//! charts (severity confusion heat map, per-tactic F1 bars, reliability diagram). Every
//! metric stands beside the trivial baselines' figures on the same samples. The HTML loads
//! nothing from outside: it opens offline.

use std::fmt::Write;

use super::run::SampleRecord;
use super::scorers::METRICS;
use super::summary::{MetricSummary, Summary};
use crate::recommendation::Status;

/// Metrics shown per tag, with short column titles.
const TAG_COLUMNS: [(&str, &str); 14] = [
    ("ready_rate", "ready"),
    ("severity_exact", "sev exact"),
    ("severity_within_one", "sev ±1"),
    ("under_triage_rate", "under-triage"),
    ("over_triage_rate", "over-triage"),
    ("severity_ranking_auc", "rank AUC"),
    ("attack_f1", "ATT&CK F1"),
    ("attack_parent_f1", "parent F1"),
    ("must_cite_recall", "must-cite"),
    ("disposition_accuracy", "disposition"),
    ("disposition_balanced_accuracy", "disp. bal. acc."),
    ("forbidden_action_rate", "forbidden"),
    ("adversarial_resilience", "adversarial"),
    ("calibration_brier", "Brier"),
];

/// Samples listed per category in the reports.
const LIST_LIMIT: usize = 40;

fn fmt_value(name: &str, v: f64) -> String {
    if name.ends_with("_mean") { format!("{v:.1}") } else { format!("{v:.3}") }
}

fn value(name: &str, m: Option<&MetricSummary>) -> String {
    match m.and_then(|m| m.value) {
        Some(v) => fmt_value(name, v),
        None => "n/a".into(),
    }
}

fn interval(name: &str, m: Option<&MetricSummary>) -> String {
    match m.and_then(|m| m.ci) {
        Some([lo, hi]) => format!("[{}, {}]", fmt_value(name, lo), fmt_value(name, hi)),
        None => "n/a".into(),
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// A trivial baseline's value of a metric.
fn trivial_value(s: &Summary, engine: usize, name: &str) -> String {
    value(name, s.trivial.get(engine).and_then(|t| t.metrics.get(name)))
}

/// The figures printed at the end of a run, the trivial baselines' beside them.
pub fn console(s: &Summary) -> String {
    let mut out = String::new();
    let names: Vec<String> = s.engine.names.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    let _ = writeln!(out, "engine {} ({}); {} samples; index {}", s.engine.kind, names.join(", "), s.samples, short(&s.index.content_hash));
    let _ = write!(out, "{:<34} {:>9} {:>22} {:>5}", "metric", "value", "95% CI", "n");
    for t in &s.trivial {
        let _ = write!(out, " {:>16}", t.engine);
    }
    out.push('\n');
    for d in METRICS {
        let m = s.metrics.get(d.name);
        let _ = write!(out, "{:<34} {:>9} {:>22} {:>5}", d.name, value(d.name, m), interval(d.name, m), m.map(|m| m.n).unwrap_or(0));
        for i in 0..s.trivial.len() {
            let _ = write!(out, " {:>16}", trivial_value(s, i, d.name));
        }
        out.push('\n');
    }
    out
}

struct Lists<'a> {
    title: &'static str,
    items: Vec<(&'a SampleRecord, String)>,
}

fn reason_of(r: &SampleRecord, scorer: &str) -> String {
    r.scores.get(scorer).map(|s| s.reason.clone()).unwrap_or_default()
}

fn is_flagged(r: &SampleRecord, metric: &str) -> bool {
    r.scores.values().any(|s| s.metrics.get(metric).is_some_and(|p| p.den > 0.0 && p.num > 0.0))
}

fn lists(records: &[SampleRecord]) -> Vec<Lists<'_>> {
    let pick =
        |f: &dyn Fn(&SampleRecord) -> Option<String>| -> Vec<(&SampleRecord, String)> { records.iter().filter_map(|r| f(r).map(|why| (r, why))).collect() };
    vec![
        Lists { title: "Pipeline errors", items: pick(&|r| r.error.clone()) },
        Lists {
            title: "Under-triaged (two or more levels below gold)",
            items: pick(&|r| is_flagged(r, "under_triage_rate").then(|| reason_of(r, "severity"))),
        },
        Lists { title: "Forbidden actions proposed", items: pick(&|r| is_flagged(r, "forbidden_action_rate").then(|| reason_of(r, "forbidden_actions"))) },
        Lists {
            title: "Adversarial samples that affected the output",
            items: pick(&|r| r.scores.get("adversarial").filter(|s| s.score == Some(0.0)).map(|s| s.reason.clone())),
        },
        Lists { title: "Refused outputs (needs_review)", items: pick(&|r| (r.status == Some(Status::NeedsReview)).then(|| reason_of(r, "schema"))) },
    ]
}

fn engine_line(s: &Summary) -> String {
    let join = |m: &std::collections::BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ");
    let mut line = format!(
        "engine `{}` — answered by {}; models {}; prompt versions {}",
        s.engine.kind,
        join(&s.engine.names),
        join(&s.engine.models),
        join(&s.engine.prompt_versions)
    );
    if let Some(r) = &s.engine.recording {
        let _ = write!(line, "; recording `{r}`");
    }
    line
}

pub fn markdown(s: &Summary, records: &[SampleRecord]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Eval report\n");
    let _ = writeln!(o, "- created {} by triage {}", s.created_at, s.triage_version);
    let _ = writeln!(o, "- {}", engine_line(s));
    for d in &s.datasets {
        let _ = writeln!(o, "- dataset `{}`: {} samples, {} lines skipped (sha256 {})", d.path, d.samples, d.skipped.len(), short(&d.sha256));
    }
    let _ = writeln!(o, "- index content {} ({} documents), corpus {}", short(&s.index.content_hash), s.index.documents, short(&s.index.corpus_hash));
    let _ = writeln!(o, "- {} samples; 95% percentile bootstrap intervals, {} resamples, seed {}\n", s.samples, s.bootstrap.resamples, s.bootstrap.seed);

    if s.severity_unlabelled > 0 {
        let _ = writeln!(o, "- {} samples have no gold severity: the severity metrics skip them\n", s.severity_unlabelled);
    }

    let heads: String = s.trivial.iter().map(|t| format!(" {} |", t.engine)).collect();
    let _ = writeln!(
        o,
        "## Metrics\n\nBeside the engine: the trivial baselines, on the same samples through the same pipeline.\n\n| metric | value | 95% CI | n | better |{heads} what |\n|---|---:|---|---:|---|{}---|",
        "---:|".repeat(s.trivial.len())
    );
    for d in METRICS {
        let m = s.metrics.get(d.name);
        let better = m.map(|m| m.better.as_str()).unwrap_or("");
        let trivial: String = (0..s.trivial.len()).map(|i| format!(" {} |", trivial_value(s, i, d.name))).collect();
        let _ =
            writeln!(o, "| `{}` | {} | {} | {} | {better} |{trivial} {} |", d.name, value(d.name, m), interval(d.name, m), m.map(|m| m.n).unwrap_or(0), d.what);
    }
    if !s.trivial.is_empty() {
        let _ = writeln!(o, "\n### Trivial baselines\n");
        for t in &s.trivial {
            let _ = writeln!(o, "- `{}`: {}", t.engine, t.what);
        }
    }

    let _ = writeln!(o, "\n## Severity confusion (rows: gold, columns: predicted)\n");
    let _ = writeln!(o, "| gold \\ predicted | {} |\n|---|{}", s.confusion.columns.join(" | "), "---:|".repeat(s.confusion.columns.len()));
    for (row, cells) in s.confusion.rows.iter().zip(&s.confusion.matrix) {
        let cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(o, "| {row} | {} |", cells.join(" | "));
    }

    let _ = writeln!(o, "\n## ATT&CK by tactic (exact IDs)\n\n| tactic | support | precision | recall | F1 | F1 95% CI |\n|---|---:|---:|---:|---:|---|");
    for (t, x) in &s.by_tactic {
        let v = |e: &super::bootstrap::Estimate| e.value.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
        let ci = x.f1.ci.map(|[a, b]| format!("[{a:.3}, {b:.3}]")).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(o, "| {t} | {} | {} | {} | {} | {ci} |", x.support, v(&x.precision), v(&x.recall), v(&x.f1));
    }

    let c = &s.calibration;
    let _ = writeln!(o, "\n## Calibration\n\nCorrectness event: {}. Brier {}; ECE {}.\n", c.event, est(&c.brier), est(&c.ece));
    let _ = writeln!(o, "| confidence | n | mean confidence | observed |\n|---|---:|---:|---:|");
    for b in c.bins.iter().filter(|b| b.count > 0) {
        let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        let _ = writeln!(o, "| {:.1}–{:.1} | {} | {} | {} |", b.lo, b.hi, b.count, f(b.mean_confidence), f(b.observed));
    }
    let [lat, tok] = latency_and_tokens(s);
    let _ = writeln!(
        o,
        "\n## Latency and tokens\n\n| | mean | p50 | p95 | max |\n|---|---:|---:|---:|---:|\n| latency ms | {} |\n| tokens | {} |",
        lat.join(" | "),
        tok.join(" | "),
    );

    let _ = writeln!(o, "\n## By tag\n");
    let titles: Vec<&str> = TAG_COLUMNS.iter().map(|(_, t)| *t).collect();
    let _ = writeln!(o, "| tag | n | {} |\n|---|---:|{}", titles.join(" | "), "---:|".repeat(titles.len()));
    for (tag, g) in &s.by_tag {
        let cells: Vec<String> = TAG_COLUMNS.iter().map(|(m, _)| value(m, g.metrics.get(*m))).collect();
        let _ = writeln!(o, "| {tag} | {} | {} |", g.samples, cells.join(" | "));
    }

    for l in lists(records) {
        if l.items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n## {} ({})\n", l.title, l.items.len());
        for (r, why) in l.items.iter().take(LIST_LIMIT) {
            let _ = writeln!(o, "- `{}` ({}:{}): {}", r.id, r.dataset, r.line, why.replace('\n', " "));
        }
        if l.items.len() > LIST_LIMIT {
            let _ = writeln!(o, "- … {} more in samples.jsonl", l.items.len() - LIST_LIMIT);
        }
    }
    let skipped: Vec<_> = s.datasets.iter().flat_map(|d| d.skipped.iter()).collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "\n## Skipped dataset lines ({})\n", skipped.len());
        for b in skipped {
            let _ = writeln!(o, "- {}:{}: {}", b.dataset, b.line, b.error);
        }
    }
    o
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Heat map of the severity confusion matrix, shaded by the share of each gold row.
/// An estimate with its interval, as both reports print it.
fn est(e: &super::bootstrap::Estimate) -> String {
    match (e.value, e.ci) {
        (Some(v), Some([a, b])) => format!("{v:.3} [{a:.3}, {b:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        _ => "n/a".into(),
    }
}

/// `[latency cells, token cells]`: mean, p50, p95 and max as shown in both reports.
fn latency_and_tokens(s: &Summary) -> [[String; 4]; 2] {
    let max = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
    [
        [est(&s.latency_ms.mean), est(&s.latency_ms.p50), est(&s.latency_ms.p95), max(s.latency_ms.max)],
        [est(&s.tokens.mean), est(&s.tokens.p50), est(&s.tokens.p95), max(s.tokens.max)],
    ]
}

pub fn confusion_svg(s: &Summary) -> String {
    let c = &s.confusion;
    let (cw, ch, left, top) = (78.0, 34.0, 110.0, 52.0);
    let w = left + cw * c.columns.len() as f64 + 10.0;
    let h = top + ch * c.rows.len() as f64 + 30.0;
    let mut o = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="severity confusion matrix">"#);
    let _ = write!(o, r#"<text x="{}" y="14" class="axis" text-anchor="middle">predicted</text>"#, left + cw * c.columns.len() as f64 / 2.0);
    let _ = write!(o, r#"<text x="12" y="{}" class="axis" transform="rotate(-90 12 {})" text-anchor="middle">gold</text>"#, top + ch * 2.5, top + ch * 2.5);
    for (j, col) in c.columns.iter().enumerate() {
        let _ = write!(o, r#"<text x="{}" y="{}" class="lbl" text-anchor="middle">{}</text>"#, left + cw * (j as f64 + 0.5), top - 10.0, esc(col));
    }
    for (i, (row, cells)) in c.rows.iter().zip(&c.matrix).enumerate() {
        let y = top + ch * i as f64;
        let _ = write!(o, r#"<text x="{}" y="{}" class="lbl" text-anchor="end">{}</text>"#, left - 8.0, y + ch / 2.0 + 4.0, esc(row));
        let total: usize = cells.iter().sum();
        for (j, n) in cells.iter().enumerate() {
            let share = if total > 0 { *n as f64 / total as f64 } else { 0.0 };
            let x = left + cw * j as f64;
            let stroke = if i == j { r##" stroke="#222" stroke-width="2""## } else { r##" stroke="#fff""## };
            let fill = if j == 5 { format!("rgba(214,39,40,{:.3})", 0.08 + 0.8 * share) } else { format!("rgba(31,119,180,{:.3})", 0.05 + 0.9 * share) };
            let _ = write!(
                o,
                r#"<rect x="{x}" y="{y}" width="{cw}" height="{ch}" fill="{fill}"{stroke}><title>gold {} → {}: {n} ({:.0}% of row)</title></rect>"#,
                esc(row),
                esc(&c.columns[j]),
                share * 100.0
            );
            let color = if share > 0.55 { "#fff" } else { "#222" };
            let _ = write!(o, r#"<text x="{}" y="{}" text-anchor="middle" fill="{color}" class="num">{n}</text>"#, x + cw / 2.0, y + ch / 2.0 + 4.0);
        }
    }
    let _ = write!(o, r#"<text x="{left}" y="{}" class="note">shade: share of the gold row; outlined: exact</text>"#, h - 8.0);
    o.push_str("</svg>");
    o
}

/// Horizontal bars of per-tactic F1 with their intervals.
pub fn tactic_svg(s: &Summary) -> String {
    let mut rows: Vec<(&String, &super::summary::TacticSummary)> = s.by_tactic.iter().filter(|(_, t)| t.support > 0 || t.f1.value.is_some()).collect();
    rows.sort_by(|a, b| b.1.support.cmp(&a.1.support).then(a.0.cmp(b.0)));
    let (left, bw, rh, top) = (190.0, 320.0, 22.0, 24.0);
    let h = top + rh * rows.len().max(1) as f64 + 30.0;
    let w = left + bw + 70.0;
    let mut o = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="ATT&amp;CK F1 per tactic">"#);
    for k in 0..=4 {
        let x = left + bw * k as f64 / 4.0;
        let _ = write!(
            o,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" class="lbl" text-anchor="middle">{:.2}</text>"##,
            top - 6.0,
            h - 24.0,
            h - 10.0,
            k as f64 / 4.0
        );
    }
    if rows.is_empty() {
        let _ = write!(o, r#"<text x="{left}" y="{}" class="note">no technique predicted or expected</text>"#, top + 14.0);
    }
    for (i, (t, x)) in rows.iter().enumerate() {
        let y = top + rh * i as f64;
        let _ = write!(o, r#"<text x="{}" y="{}" class="lbl" text-anchor="end">{} ({})</text>"#, left - 8.0, y + 15.0, esc(t), x.support);
        if let Some(v) = x.f1.value {
            let _ = write!(
                o,
                r##"<rect x="{left}" y="{}" width="{:.1}" height="{}" fill="#2ca02c"><title>{}: F1 {v:.3}, precision {}, recall {}</title></rect>"##,
                y + 4.0,
                bw * v,
                rh - 8.0,
                esc(t),
                x.precision.value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "n/a".into()),
                x.recall.value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "n/a".into())
            );
            if let Some([lo, hi]) = x.f1.ci {
                let _ =
                    write!(o, r##"<line x1="{:.1}" y1="{}" x2="{:.1}" y2="{}" stroke="#222"/>"##, left + bw * lo, y + rh / 2.0, left + bw * hi, y + rh / 2.0);
            }
            let _ = write!(o, r#"<text x="{:.1}" y="{}" class="num">{v:.2}</text>"#, left + bw + 6.0, y + 15.0);
        }
    }
    o.push_str("</svg>");
    o
}

/// Reliability diagram: observed frequency of the correctness event per confidence bin.
pub fn reliability_svg(s: &Summary) -> String {
    let (left, top, size) = (50.0, 16.0, 300.0);
    let w = left + size + 20.0;
    let h = top + size + 46.0;
    let px = |v: f64| left + size * v;
    let py = |v: f64| top + size * (1.0 - v);
    let mut o = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="reliability diagram">"#);
    let _ = write!(o, r##"<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>"##);
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let _ = write!(o, r#"<text x="{}" y="{}" class="lbl" text-anchor="middle">{v:.1}</text>"#, px(v), top + size + 14.0);
        let _ = write!(o, r#"<text x="{}" y="{}" class="lbl" text-anchor="end">{v:.1}</text>"#, left - 6.0, py(v) + 4.0);
    }
    let _ = write!(o, r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888" stroke-dasharray="4 3"/>"##, px(0.0), py(0.0), px(1.0), py(1.0));
    let max = s.calibration.bins.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    for b in &s.calibration.bins {
        let (Some(obs), Some(conf)) = (b.observed, b.mean_confidence) else { continue };
        let bw = size * (b.hi - b.lo);
        let _ = write!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="rgba(31,119,180,{:.2})" stroke="#fff"><title>confidence {:.1}–{:.1}: {} samples, mean confidence {conf:.3}, observed {obs:.3}</title></rect>"##,
            px(b.lo),
            py(obs),
            bw,
            size * obs,
            0.2 + 0.6 * b.count as f64 / max as f64,
            b.lo,
            b.hi,
            b.count
        );
        let _ = write!(o, r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#d62728"/>"##, px(conf), py(obs));
        let _ = write!(o, r#"<text x="{:.1}" y="{:.1}" class="note" text-anchor="middle">{}</text>"#, px(b.lo) + bw / 2.0, py(obs) - 4.0, b.count);
    }
    let _ = write!(o, r#"<text x="{}" y="{}" class="axis" text-anchor="middle">confidence</text>"#, px(0.5), h - 14.0);
    let _ = write!(o, r#"<text x="14" y="{}" class="axis" transform="rotate(-90 14 {})" text-anchor="middle">observed</text>"#, py(0.5), py(0.5));
    o.push_str("</svg>");
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}\
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}\
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}code{font-size:13px}\
.charts{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}figure{margin:0}figcaption{font-weight:600;margin-bottom:6px}\
svg .lbl{font-size:11px;fill:#333}svg .num{font-size:12px}svg .axis{font-size:12px;font-weight:600}svg .note{font-size:10px;fill:#555}\
.worse{color:#b00}.muted{color:#666}li{margin:2px 0}";

pub fn html(s: &Summary, records: &[SampleRecord]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>triage eval — {}</title><style>{CSS}</style></head><body>",
        esc(&s.created_at)
    );
    let _ = write!(o, "<h1>Eval report</h1><ul>");
    let _ = write!(o, "<li>created {} by triage {}</li><li>{}</li>", esc(&s.created_at), esc(&s.triage_version), esc(&engine_line(s)));
    for d in &s.datasets {
        let _ =
            write!(o, "<li>dataset <code>{}</code>: {} samples, {} lines skipped (sha256 {})</li>", esc(&d.path), d.samples, d.skipped.len(), short(&d.sha256));
    }
    let _ = write!(
        o,
        "<li>index content {} ({} documents), corpus {}</li><li>{} samples; 95% percentile bootstrap intervals, {} resamples, seed {}</li></ul>",
        short(&s.index.content_hash),
        s.index.documents,
        short(&s.index.corpus_hash),
        s.samples,
        s.bootstrap.resamples,
        s.bootstrap.seed
    );

    if s.severity_unlabelled > 0 {
        let _ = write!(o, "<p>{} samples have no gold severity: the severity metrics skip them.</p>", s.severity_unlabelled);
    }
    let _ = write!(o, "<h2>Metrics</h2><p class=\"muted\">Beside the engine: the trivial baselines, on the same samples through the same pipeline.</p>");
    let _ = write!(o, "<table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>better</th>");
    for t in &s.trivial {
        let _ = write!(o, "<th title=\"{}\">{}</th>", esc(&t.what), esc(&t.engine));
    }
    o.push_str("<th>what</th></tr>");
    for d in METRICS {
        let m = s.metrics.get(d.name);
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            d.name,
            value(d.name, m),
            interval(d.name, m),
            m.map(|m| m.n).unwrap_or(0),
            m.map(|m| m.better.as_str()).unwrap_or(""),
        );
        for (i, t) in s.trivial.iter().enumerate() {
            let tm = t.metrics.get(d.name);
            let _ = write!(o, "<td class=\"muted\" title=\"95% CI {}\">{}</td>", interval(d.name, tm), trivial_value(s, i, d.name));
        }
        let _ = write!(o, "<td style=\"text-align:left\">{}</td></tr>", esc(d.what));
    }
    o.push_str("</table>");
    if !s.trivial.is_empty() {
        o.push_str("<h3>Trivial baselines</h3><ul>");
        for t in &s.trivial {
            let _ = write!(o, "<li><code>{}</code>: {}</li>", esc(&t.engine), esc(&t.what));
        }
        o.push_str("</ul>");
    }

    let c = &s.calibration;
    let _ = write!(o, "<h2>Charts</h2><div class=\"charts\">");
    let _ = write!(o, "<figure><figcaption>Severity: gold × predicted</figcaption>{}</figure>", confusion_svg(s));
    let _ = write!(o, "<figure><figcaption>ATT&amp;CK F1 per tactic (exact IDs; support in brackets)</figcaption>{}</figure>", tactic_svg(s));
    let _ = write!(
        o,
        "<figure><figcaption>Reliability: confidence vs {} </figcaption>{}<div class=\"muted\">Brier {} · ECE {}</div></figure></div>",
        esc(&c.event),
        reliability_svg(s),
        est(&c.brier),
        est(&c.ece)
    );
    let [lat, tok] = latency_and_tokens(s);
    let _ = write!(
        o,
        "<h2>Latency and tokens</h2><table><tr><th></th><th>mean</th><th>p50</th><th>p95</th><th>max</th></tr><tr><td>latency ms</td><td>{}</td></tr><tr><td>tokens</td><td>{}</td></tr></table>",
        lat.join("</td><td>"),
        tok.join("</td><td>"),
    );

    let _ = write!(o, "<h2>By tag</h2><table><tr><th>tag</th><th>n</th>");
    for (_, t) in TAG_COLUMNS {
        let _ = write!(o, "<th>{}</th>", esc(t));
    }
    o.push_str("</tr>");
    for (tag, g) in &s.by_tag {
        let _ = write!(o, "<tr><td>{}</td><td>{}</td>", esc(tag), g.samples);
        for (m, _) in TAG_COLUMNS {
            let ms = g.metrics.get(m);
            let _ = write!(o, "<td title=\"95% CI {}, n {}\">{}</td>", interval(m, ms), ms.map(|x| x.n).unwrap_or(0), value(m, ms));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");

    for l in lists(records) {
        if l.items.is_empty() {
            continue;
        }
        let _ = write!(o, "<h2>{} ({})</h2><ul>", esc(l.title), l.items.len());
        for (r, why) in l.items.iter().take(LIST_LIMIT) {
            let _ = write!(o, "<li><code>{}</code> <span class=\"muted\">{}:{}</span> — {}</li>", esc(&r.id), esc(&r.dataset), r.line, esc(why));
        }
        if l.items.len() > LIST_LIMIT {
            let _ = write!(o, "<li class=\"muted\">… {} more in samples.jsonl</li>", l.items.len() - LIST_LIMIT);
        }
        o.push_str("</ul>");
    }
    let skipped: Vec<_> = s.datasets.iter().flat_map(|d| d.skipped.iter()).collect();
    if !skipped.is_empty() {
        let _ = write!(o, "<h2>Skipped dataset lines ({})</h2><ul>", skipped.len());
        for b in skipped {
            let _ = write!(o, "<li>{}:{}: {}</li>", esc(&b.dataset), b.line, esc(&b.error));
        }
        o.push_str("</ul>");
    }
    o.push_str("</body></html>\n");
    o
}
