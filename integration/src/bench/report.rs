//! The results of a run: a readable table on stdout and a JSON file with every figure plus the
//! machine it ran on, so that BENCHMARKS.md can quote both.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::stats::Latency;

/// The figures of one scenario, in the order they were added. Keys carry their unit
/// (`per_s`, `_ms`, a plain count).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// The command line that reproduces it.
    pub params: String,
    pub figures: Vec<(String, f64)>,
}

impl Scenario {
    pub fn new(name: &str, params: String) -> Scenario {
        Scenario {
            name: name.to_string(),
            params,
            figures: Vec::new(),
        }
    }

    pub fn add(&mut self, key: &str, value: f64) -> &mut Scenario {
        self.figures.push((key.to_string(), value));
        self
    }

    /// p50 / p99 / p99.9 / max of a latency distribution, keys prefixed by `prefix`.
    pub fn latency(&mut self, prefix: &str, l: &Latency) -> &mut Scenario {
        for (q, name) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99_9")] {
            self.add(&format!("{prefix}{name}_ms"), l.ms(q));
        }
        self.add(&format!("{prefix}max_ms"), l.max_ms())
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// A scenario figure beside its baseline: `ratio = figure / baseline`.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub what: String,
    pub figure: f64,
    pub baseline: f64,
    pub ratio: f64,
}

#[derive(Debug, Default)]
pub struct Report {
    pub scenarios: Vec<Scenario>,
    pub comparisons: Vec<Comparison>,
}

impl Report {
    pub fn find(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Adds `a.key_a / b.key_b` when both scenarios ran.
    pub fn compare(&mut self, what: &str, a: (&str, &str), b: (&str, &str)) {
        let fig = self.find(a.0).and_then(|s| s.get(a.1));
        let base = self.find(b.0).and_then(|s| s.get(b.1));
        if let (Some(figure), Some(baseline)) = (fig, base) {
            let ratio = if baseline == 0.0 {
                0.0
            } else {
                figure / baseline
            };
            self.comparisons.push(Comparison {
                what: what.to_string(),
                figure,
                baseline,
                ratio,
            });
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for s in &self.scenarios {
            out.push_str(&format!("\n== {}  ({})\n", s.name, s.params));
            for (k, v) in &s.figures {
                out.push_str(&format!("  {k:<28} {:>14}\n", fmt(*v)));
            }
        }
        if !self.comparisons.is_empty() {
            out.push_str("\n== figure vs baseline\n");
            out.push_str(&format!(
                "  {:<58} {:>12} {:>12} {:>8}\n",
                "", "figure", "baseline", "ratio"
            ));
            for c in &self.comparisons {
                out.push_str(&format!(
                    "  {:<58} {:>12} {:>12} {:>8.3}\n",
                    c.what,
                    fmt(c.figure),
                    fmt(c.baseline),
                    c.ratio
                ));
            }
        }
        out
    }

    /// Every figure, the comparisons and the machine, as JSON.
    pub fn to_json(&self) -> Value {
        let mut scenarios = Map::new();
        for s in &self.scenarios {
            let mut m = Map::new();
            m.insert("params".into(), json!(s.params));
            for (k, v) in &s.figures {
                m.insert(k.clone(), json!(v));
            }
            scenarios.insert(s.name.clone(), Value::Object(m));
        }
        let comparisons: Vec<Value> = self
            .comparisons
            .iter()
            .map(|c| json!({"what": c.what, "figure": c.figure, "baseline": c.baseline, "ratio": c.ratio}))
            .collect();
        json!({
            "machine": machine(),
            "scenarios": scenarios,
            "comparisons": comparisons,
        })
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// What the figures were measured on: cores, memory, CPU model, kernel, date (UTC).
pub fn machine() -> Value {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "nproc": nproc,
        "mem_total_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "cpu": cpu,
        "kernel": kernel.trim(),
        "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}
