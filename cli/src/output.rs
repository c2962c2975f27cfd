//! Output helpers shared by the subcommands: colour (only on a terminal and
//! without `NO_COLOR`, decided by `anstream`), JSON printing, failures with
//! exit codes, and human-readable times.

use owo_colors::OwoColorize as _;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exit code for "rejected / check failed".
pub const EXIT_REJECTED: u8 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// Why a command stopped, with its exit code and a stable snake_case code.
#[derive(Debug)]
pub struct Failure {
    pub exit: u8,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    /// A usage or configuration error (exit 2).
    pub fn usage(code: &'static str, message: impl Into<String>) -> Failure {
        Failure { exit: EXIT_USAGE, code, message: message.into() }
    }

    /// A rejection or failed check (exit 1).
    #[allow(dead_code)] // used by `verify`/`doctor` once they exist
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Failure {
        Failure { exit: EXIT_REJECTED, code, message: message.into() }
    }
}

/// How to print: human text (coloured on a terminal) or JSON.
#[derive(Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints one JSON document on stdout.
    pub fn print_json(&self, value: &Value) {
        println!("{}", serde_json::to_string_pretty(value).expect("JSON serialises"));
    }

    /// Prints one line of human text (ANSI styling is stripped when stdout
    /// is not a terminal or `NO_COLOR` is set).
    pub fn line(&self, text: impl std::fmt::Display) {
        anstream::println!("{text}");
    }

    /// Reports a failure (stderr; with `--json` also `{"error": ...}` on
    /// stdout) and returns its exit code.
    pub fn fail(&self, failure: &Failure) -> ExitCode {
        if self.json {
            self.print_json(&json!({ "error": { "code": failure.code, "message": failure.message } }));
        }
        anstream::eprintln!("{} {}", "error:".red().bold(), failure.message);
        ExitCode::from(failure.exit)
    }
}

/// A heading.
pub fn heading(text: &str) -> String {
    text.bold().to_string()
}

/// A warning-styled text.
pub fn warn(text: &str) -> String {
    text.yellow().bold().to_string()
}

/// A good/positive text.
pub fn good(text: &str) -> String {
    text.green().bold().to_string()
}

/// A bad/negative text.
pub fn bad(text: &str) -> String {
    text.red().bold().to_string()
}

/// A dimmed text.
pub fn dim(text: &str) -> String {
    text.dimmed().to_string()
}

/// Now, in seconds since the Unix epoch.
pub fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `2026-11-24 10:30:00 UTC`, or `None` when the value is not a representable time.
pub fn utc(secs: f64) -> Option<String> {
    if !secs.is_finite() || !(0.0..=253_402_300_799.0).contains(&secs) {
        return None;
    }
    let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    Some(format!("{} UTC", s.trim_end_matches('Z').replacen('T', " ", 1)))
}

/// A coarse duration: `45s`, `5m`, `4m 59s`, `3h 20m`, `2d 4h`.
pub fn coarse(secs: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(i) = units.iter().position(|(n, _)| secs >= *n) else {
        return "0s".to_owned();
    };
    let (big, big_name) = units[i];
    let mut out = format!("{}{big_name}", secs / big);
    if let Some((small, small_name)) = units.get(i + 1) {
        let rest = (secs % big) / small;
        if rest > 0 {
            out.push_str(&format!(" {rest}{small_name}"));
        }
    }
    out
}

/// `in 5m`, `3h ago`, `now`.
pub fn relative(at: f64, now: f64) -> String {
    let delta = at - now;
    let whole = delta.abs().round() as u64;
    if whole == 0 {
        "now".to_owned()
    } else if delta > 0.0 {
        format!("in {}", coarse(whole))
    } else {
        format!("{} ago", coarse(whole))
    }
}

/// Reads a duration like `5m`, `90s`, `1h 30m` (humantime).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_and_relative() {
        assert_eq!(coarse(0), "0s");
        assert_eq!(coarse(45), "45s");
        assert_eq!(coarse(300), "5m");
        assert_eq!(coarse(299), "4m 59s");
        assert_eq!(coarse(3 * 3600 + 20 * 60 + 7), "3h 20m");
        assert_eq!(coarse(2 * 86_400 + 4 * 3600), "2d 4h");
        assert_eq!(relative(1300.0, 1000.0), "in 5m");
        assert_eq!(relative(1000.0, 1000.0 + 3.0 * 3600.0), "3h ago");
        assert_eq!(relative(1000.2, 1000.0), "now");
    }

    #[test]
    fn utc_format() {
        assert_eq!(utc(1_767_225_600.0).unwrap(), "2026-01-01 00:00:00 UTC");
        assert!(utc(-1.0).is_none());
        assert!(utc(f64::NAN).is_none());
        assert!(utc(1e20).is_none());
    }
}
