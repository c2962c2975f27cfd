//! A process-wide metrics snapshot as plain data, for collectors that are not
//! Rust's `metrics` facade (prometheus_client, prom-client, Micrometer) and
//! for the agent's `/metrics`. The facade still gets every update; this
//! registry keeps its own copy so a binding can export without installing a
//! Rust recorder.
//!
//! The hot path (one verification) costs two relaxed atomic additions.

use crate::host::lock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokenkeep_core::RejectionCode;

/// What kind of metric a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl MetricKind {
    /// `counter`, `gauge` or `histogram` (Prometheus `# TYPE`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One labelled value of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSample {
    /// Label names and values, in a stable order.
    pub labels: Vec<(String, String)>,
    /// The value (for a histogram: the sum of observations).
    pub value: f64,
    /// Histogram only: observation count.
    pub count: u64,
    /// Histogram only: cumulative counts per upper bound (`le`), `+Inf` last.
    pub buckets: Vec<(f64, u64)>,
}

/// One metric family.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// Its name (`auth_jwt_invalid_total`, …).
    pub name: String,
    /// One line of help.
    pub help: String,
    /// Its kind.
    pub kind: MetricKind,
    /// Its samples.
    pub samples: Vec<MetricSample>,
}

/// Every metric at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// The families, sorted by name.
    pub families: Vec<MetricFamily>,
}

impl MetricsSnapshot {
    /// The Prometheus text exposition format.
    pub fn to_prometheus_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for family in &self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
            for s in &family.samples {
                if family.kind == MetricKind::Histogram {
                    for (le, n) in &s.buckets {
                        let le = if le.is_infinite() { "+Inf".to_owned() } else { format_value(*le) };
                        let mut labels = s.labels.clone();
                        labels.push(("le".to_owned(), le));
                        let _ = writeln!(out, "{}_bucket{} {n}", family.name, render_labels(&labels));
                    }
                    let _ = writeln!(out, "{}_sum{} {}", family.name, render_labels(&s.labels), format_value(s.value));
                    let _ = writeln!(out, "{}_count{} {}", family.name, render_labels(&s.labels), s.count);
                } else {
                    let _ = writeln!(out, "{}{} {}", family.name, render_labels(&s.labels), format_value(s.value));
                }
            }
        }
        out
    }

    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

fn render_labels(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Upper bounds of the verification-time histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 14] =
    [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0];

struct Histogram {
    /// Observations per bucket, the last one past every bound (`+Inf`): the
    /// count is their sum, so an observation costs two atomic adds, not three.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; DURATION_BUCKETS.len() + 1], sum_nanos: AtomicU64::new(0) }
    }

    fn observe(&self, seconds: f64) {
        let i = DURATION_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(DURATION_BUCKETS.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    fn sample(&self, labels: Vec<(String, String)>) -> MetricSample {
        let mut cumulative = 0;
        let mut buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(le, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*le, cumulative)
            })
            .collect();
        let count = cumulative + self.buckets[DURATION_BUCKETS.len()].load(Ordering::Relaxed);
        buckets.push((f64::INFINITY, count));
        MetricSample { labels, value: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9, count, buckets }
    }
}

/// One gauge value: family, labels, value.
pub(crate) type GaugeRow = (&'static str, Vec<(String, String)>, f64);

/// Gauges read from live handles when a snapshot is taken.
pub(crate) trait GaugeSource: Send + Sync {
    /// Appends this handle's gauges.
    fn gauges(&self, out: &mut Vec<GaugeRow>);
}

type CounterKey = (&'static str, Vec<(&'static str, String)>);

struct Registry {
    invalid: [AtomicU64; RejectionCode::ALL.len()],
    valid_duration: Histogram,
    invalid_duration: Histogram,
    counters: Mutex<BTreeMap<CounterKey, u64>>,
    sources: Mutex<Vec<Weak<dyn GaugeSource>>>,
}

static REGISTRY: Registry = Registry {
    invalid: [const { AtomicU64::new(0) }; RejectionCode::ALL.len()],
    valid_duration: Histogram::new(),
    invalid_duration: Histogram::new(),
    counters: Mutex::new(BTreeMap::new()),
    sources: Mutex::new(Vec::new()),
};

/// Help text of every family the runtime reports.
pub const FAMILIES: &[(&str, MetricKind, &str)] = &[
    ("auth_jwt_invalid_total", MetricKind::Counter, "Rejected tokens, by reason (the rejection code)"),
    ("jwt_validation_duration_seconds", MetricKind::Histogram, "Time to verify a token, by result"),
    ("jwks_refresh_total", MetricKind::Counter, "JWKS fetch outcomes, by issuer and result"),
    ("jwks_cache_age_seconds", MetricKind::Gauge, "Seconds since the last successful JWKS fetch, by issuer"),
    ("jwks_keys", MetricKind::Gauge, "Usable keys, by issuer"),
    ("vault_login_total", MetricKind::Counter, "Vault logins, by result"),
    ("vault_renew_total", MetricKind::Counter, "Vault token renewals, by result"),
    ("vault_secret_read_total", MetricKind::Counter, "Vault secret and lease reads, by secret and result"),
    ("token_file_read_total", MetricKind::Counter, "Token file reads, by result"),
    ("credential_up", MetricKind::Gauge, "1 while the credential holds a usable value, by kind and name"),
    ("credential_expires_in_seconds", MetricKind::Gauge, "Seconds until the credential expires, by kind and name"),
    ("credential_age_seconds", MetricKind::Gauge, "Seconds since the credential was obtained, by kind and name"),
    ("credential_consecutive_failures", MetricKind::Gauge, "Failed refreshes since the last success, by kind and name"),
];

pub(crate) fn record_verification(result: Result<(), RejectionCode>, seconds: f64) {
    match result {
        Ok(()) => REGISTRY.valid_duration.observe(seconds),
        Err(code) => {
            REGISTRY.invalid_duration.observe(seconds);
            if let Some(i) = RejectionCode::ALL.iter().position(|c| *c == code) {
                REGISTRY.invalid[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub(crate) fn count(name: &'static str, labels: Vec<(&'static str, String)>) {
    *lock(&REGISTRY.counters).entry((name, labels)).or_insert(0) += 1;
}

pub(crate) fn register_source(source: Weak<dyn GaugeSource>) {
    let mut list = lock(&REGISTRY.sources);
    list.retain(|w| w.strong_count() > 0);
    list.push(source);
}

/// The metrics of every handle in this process, now.
pub fn snapshot() -> MetricsSnapshot {
    let mut families: BTreeMap<&'static str, Vec<MetricSample>> = BTreeMap::new();
    let invalid = families.entry("auth_jwt_invalid_total").or_default();
    for (code, n) in RejectionCode::ALL.iter().zip(&REGISTRY.invalid) {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            invalid.push(sample(vec![("reason".into(), code.as_str().into())], n as f64));
        }
    }
    families.insert(
        "jwt_validation_duration_seconds",
        vec![
            REGISTRY.valid_duration.sample(vec![("result".into(), "valid".into())]),
            REGISTRY.invalid_duration.sample(vec![("result".into(), "invalid".into())]),
        ],
    );
    for ((name, labels), n) in lock(&REGISTRY.counters).iter() {
        let labels = labels.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        families.entry(name).or_default().push(sample(labels, *n as f64));
    }
    let live: Vec<Arc<dyn GaugeSource>> = {
        let mut list = lock(&REGISTRY.sources);
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    let mut gauges = Vec::new();
    for source in live {
        source.gauges(&mut gauges);
    }
    for (name, labels, value) in gauges {
        families.entry(name).or_default().push(sample(labels, value));
    }
    MetricsSnapshot {
        families: FAMILIES
            .iter()
            .map(|(name, kind, help)| MetricFamily {
                name: (*name).to_owned(),
                help: (*help).to_owned(),
                kind: *kind,
                samples: families.remove(name).unwrap_or_default(),
            })
            .collect(),
    }
}

fn sample(labels: Vec<(String, String)>, value: f64) -> MetricSample {
    MetricSample { labels, value, count: 0, buckets: Vec::new() }
}
