//! `tokenkeep doctor --issuer URL`: the JWKS-failure runbook as a checklist.
//! One line per check with a verdict; exit 1 when any check fails.

use crate::cmd::inspect::read_token;
use crate::cmd::net::{self, TransportArgs};
use crate::output::{self, EXIT_REJECTED, Failure, Output};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};
use tokenkeep_core::jwks::{KeySource, check_url};
use tokenkeep_core::policy::DEFAULT_MAX_TOKEN_BYTES;
use tokenkeep_core::text::sanitize;
use tokenkeep_core::{KeySet, Policy};

/// Arguments of `tokenkeep doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The issuer whose discovery and keys to check.
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// A token to check against the published keys (or `-` for stdin).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Largest clock skew against the server's `Date` that passes, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    max_skew: u64,
    #[command(flatten)]
    transport: TransportArgs,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

struct Check {
    name: &'static str,
    verdict: Verdict,
    detail: String,
}

struct Checklist(Vec<Check>);

impl Checklist {
    fn add(&mut self, name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Verdict {
        // Details may quote the server (a kid, a header): printed as they are
        // here, so every caller passes them through `sanitize` first.
        self.0.push(Check { name, verdict, detail: detail.into() });
        verdict
    }
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let token = args.token.as_deref().map(|t| read_token(t, DEFAULT_MAX_TOKEN_BYTES)).transpose()?;
    let allow_http = args.transport.dangerous_allow_http;
    check_url(&args.issuer, allow_http).map_err(|e| {
        let hint = if e.code() == "insecure_url" { " (--dangerous-allow-http allows it)" } else { "" };
        Failure::usage(e.code(), format!("--issuer {}: {e}{hint}", sanitize(&args.issuer)))
    })?;
    let client = args.transport.client_for(&args.issuer)?;
    let runtime = net::runtime()?;
    let mut list = Checklist(Vec::new());
    runtime.block_on(async {
        let timeout = args.transport.timeout;
        let discovery_url = KeySource::discovery_url(&args.issuer);
        let started = Instant::now();
        let (discovery, tls_failure) = net::get_explained(&client, &discovery_url, timeout).await;
        let discovery = net::response(discovery);
        let elapsed = started.elapsed().as_millis();
        let tls_detail = if args.issuer.starts_with("https://") {
            match &args.transport.ca {
                Some(ca) => format!("chain verified against {}", ca.display()),
                None => "chain verified against the system roots".to_owned(),
            }
        } else {
            "plain http (allowed for loopback only)".to_owned()
        };
        let doc = match discovery {
            Err(code) => {
                match tls_failure {
                    Some(tls) => list.add("tls", Verdict::Fail, format!("{}: {}", tls.code(), tls.explain())),
                    None => {
                        list.add("tls", Verdict::Skip, format!("not checked: the connection failed first ({code})"))
                    }
                };
                list.add("discovery reachable", Verdict::Fail, format!("{discovery_url}: {code}"));
                return;
            }
            Ok(r) if r.status != 200 => {
                list.add("discovery reachable", Verdict::Fail, format!("{discovery_url}: HTTP {}", r.status));
                return;
            }
            Ok(r) => {
                let tls = if args.issuer.starts_with("https://") { Verdict::Ok } else { Verdict::Warn };
                list.add("tls", tls, tls_detail);
                list.add("discovery reachable", Verdict::Ok, format!("{discovery_url}: HTTP 200 in {elapsed} ms"));
                skew(&mut list, r.header("date"), args.max_skew);
                match serde_json::from_slice::<Value>(&r.body) {
                    Ok(doc) => doc,
                    Err(_) => {
                        list.add("discovery parseable", Verdict::Fail, "not JSON");
                        return;
                    }
                }
            }
        };
        // Everything below comes from the server: sanitized before it is shown.
        let announced = doc["issuer"].as_str().unwrap_or("");
        if announced == args.issuer {
            list.add("issuer matches", Verdict::Ok, format!("\"{}\"", sanitize(announced)));
        } else {
            list.add(
                "issuer matches",
                Verdict::Fail,
                format!("document says \"{}\", expected \"{}\" exactly", sanitize(announced), sanitize(&args.issuer)),
            );
        }
        let Some(jwks_uri) = doc["jwks_uri"].as_str() else {
            list.add("jwks_uri present", Verdict::Fail, "discovery has no jwks_uri");
            return;
        };
        let shown_uri = sanitize(jwks_uri);
        if let Err(e) = check_url(jwks_uri, allow_http) {
            list.add("jwks_uri acceptable", Verdict::Fail, format!("{shown_uri}: {e}"));
            return;
        }
        let (jwks, jwks_tls) = net::get_explained(&client, jwks_uri, timeout).await;
        let response = match net::response(jwks) {
            Err(code) => {
                let why = jwks_tls.map_or(code.to_owned(), |t| format!("{}: {}", t.code(), t.explain()));
                list.add("jwks reachable", Verdict::Fail, format!("{shown_uri}: {why}"));
                return;
            }
            Ok(r) if r.status != 200 => {
                list.add("jwks reachable", Verdict::Fail, format!("{shown_uri}: HTTP {}", r.status));
                return;
            }
            Ok(r) => {
                list.add("jwks reachable", Verdict::Ok, format!("{shown_uri}: HTTP 200, {} bytes", r.body.len()));
                r
            }
        };
        let keys = match KeySet::from_jwks_json(&response.body) {
            Ok(keys) => {
                list.add("jwks parseable", Verdict::Ok, "a JSON key set");
                keys
            }
            Err(e) => {
                list.add("jwks parseable", Verdict::Fail, e.to_string());
                return;
            }
        };
        let skipped: Vec<String> = keys
            .skipped()
            .iter()
            .map(|s| format!("{}: {}", sanitize(s.kid.as_deref().unwrap_or("(no kid)")), s.reason))
            .collect();
        let count_verdict = match (keys.len(), skipped.is_empty()) {
            (0, _) => Verdict::Fail,
            (_, false) => Verdict::Warn,
            _ => Verdict::Ok,
        };
        let mut detail = format!("{} usable", keys.len());
        if !skipped.is_empty() {
            detail.push_str(&format!(", skipped {}", skipped.join(", ")));
        }
        list.add("key count", count_verdict, detail);
        match response.header("cache-control") {
            Some(cc) if cc.contains("max-age") => list.add("cache-control", Verdict::Ok, sanitize(cc)),
            Some(cc) => {
                list.add("cache-control", Verdict::Warn, format!("{} (no max-age: verifiers use 5 min)", sanitize(cc)))
            }
            None => list.add("cache-control", Verdict::Warn, "absent (verifiers fall back to 5 min)"),
        };
        if let Some(token) = &token {
            token_checks(&mut list, token, &keys, &args.issuer);
        }
    });
    let failed = list.0.iter().any(|c| c.verdict == Verdict::Fail);
    if out.json() {
        let checks: Vec<Value> = list
            .0
            .iter()
            .map(|c| json!({"check": c.name, "verdict": verdict_name(c.verdict), "detail": c.detail}))
            .collect();
        out.print_json(&json!({"issuer": args.issuer, "ok": !failed, "checks": checks}));
    } else {
        out.line(output::heading(&format!("tokenkeep doctor {}", args.issuer)));
        for c in &list.0 {
            let mark = match c.verdict {
                Verdict::Ok => output::good("  ok  "),
                Verdict::Warn => output::warn(" warn "),
                Verdict::Fail => output::bad(" FAIL "),
                Verdict::Skip => output::dim(" skip "),
            };
            out.line(format!("[{mark}] {:<22} {}", c.name, c.detail));
        }
    }
    Ok(if failed { ExitCode::from(EXIT_REJECTED) } else { ExitCode::SUCCESS })
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Warn => "warn",
        Verdict::Fail => "fail",
        Verdict::Skip => "skip",
    }
}

fn skew(list: &mut Checklist, date: Option<&str>, max: u64) {
    let Some(date) = date else {
        list.add("clock skew", Verdict::Warn, "server sent no Date header");
        return;
    };
    let Ok(server) = httpdate::parse_http_date(date) else {
        list.add("clock skew", Verdict::Warn, format!("unparseable Date \"{}\"", sanitize(date)));
        return;
    };
    let local = SystemTime::now();
    let (secs, ahead) = match server.duration_since(local) {
        Ok(d) => (d.as_secs_f64(), "server ahead"),
        Err(e) => (e.duration().as_secs_f64(), "server behind"),
    };
    // Date has one-second resolution.
    let verdict = if secs <= max as f64 + 1.0 { Verdict::Ok } else { Verdict::Fail };
    list.add("clock skew", verdict, format!("{secs:.0} s ({ahead}), limit {max} s"));
}

fn token_checks(list: &mut Checklist, token: &str, keys: &KeySet, issuer: &str) {
    let decoded = match tokenkeep_core::decode_unverified(token) {
        Ok(d) => d,
        Err(e) => {
            list.add("token decodes", Verdict::Fail, e.to_string());
            return;
        }
    };
    let kid = decoded.header.get("kid").and_then(Value::as_str);
    match kid {
        Some(kid) if keys.contains_kid(kid) => {
            list.add("token kid published", Verdict::Ok, format!("\"{}\"", sanitize(kid)))
        }
        Some(kid) => {
            list.add("token kid published", Verdict::Fail, format!("\"{}\" is not in the key set", sanitize(kid)))
        }
        None => list.add("token kid published", Verdict::Warn, "token has no kid"),
    };
    let policy = Policy::new(issuer);
    match tokenkeep_core::verify(token, keys, &policy, tokenkeep::clock::now()) {
        Ok(_) => list.add("token verifies", Verdict::Ok, "signature, issuer and times (audience not checked)"),
        Err(r) => list.add("token verifies", Verdict::Fail, format!("{}: {r}", r.code())),
    };
}
