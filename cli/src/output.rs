//! Output helpers shared by the subcommands: colour (only on a terminal and
//! without `NO_COLOR`, decided by `anstream`), JSON printing, failures with
//! exit codes, and human-readable times.
//!
//! Every byte for stdout goes through [`Output`], which never panics: the
//! first write error is kept, later writes are skipped, and
//! [`Output::finish`] turns it into the exit code (a closed pipe: 141, as a
//! process killed by SIGPIPE; any other error: a message and exit 1).
//! Attacker-chosen strings reach the human output only through
//! [`tokenkeep_core::text::sanitize`]; JSON output escapes the same
//! characters as `\uXXXX` ([`SafeJson`]).

use owo_colors::OwoColorize as _;
use serde_json::{Value, json};
use std::io::{self, Write as _};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exit code for "rejected / check failed".
pub const EXIT_REJECTED: u8 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when stdout was closed early (`| head`): what a shell reports
/// for a process killed by SIGPIPE (128 + 13).
pub const EXIT_BROKEN_PIPE: u8 = 141;

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
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Failure {
        Failure { exit: EXIT_REJECTED, code, message: message.into() }
    }
}

/// How to print: human text (coloured on a terminal) or JSON.
#[derive(Debug)]
pub struct Output {
    json: bool,
    /// The first error writing stdout; nothing more is written after it.
    broken: Mutex<Option<io::Error>>,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json, broken: Mutex::new(None) }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Writes `text` and a newline to stdout (ANSI styling is stripped when
    /// stdout is not a terminal or `NO_COLOR` is set), flushed at once so a
    /// parent reading line by line sees it.
    fn write_line(&self, text: &str) {
        self.text(&format!("{text}\n"));
    }

    /// Writes `text` as is to stdout, flushed.
    pub fn text(&self, text: &str) {
        let mut broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        if broken.is_some() {
            return;
        }
        let mut stdout = anstream::stdout().lock();
        let result = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
        if let Err(e) = result {
            *broken = Some(e);
        }
    }

    /// Prints one JSON document on stdout (pretty).
    pub fn print_json(&self, value: &Value) {
        self.write_line(&json_text(value, true));
    }

    /// Prints one JSON document on one line (events a parent process reads).
    pub fn print_json_line(&self, value: &Value) {
        self.write_line(&json_text(value, false));
    }

    /// Prints one line of human text.
    pub fn line(&self, text: impl std::fmt::Display) {
        self.write_line(&text.to_string());
    }

    /// Reports a failure (stderr; with `--json` also `{"error": ...}` on
    /// stdout) and returns its exit code.
    pub fn fail(&self, failure: &Failure) -> ExitCode {
        if self.json {
            self.print_json(&json!({ "error": { "code": failure.code, "message": failure.message } }));
        }
        self.error_line(&failure.message);
        self.finish(ExitCode::from(failure.exit))
    }

    /// `error: <message>` on stderr; a stderr that cannot be written is ignored.
    fn error_line(&self, message: &str) {
        let mut stderr = anstream::stderr().lock();
        let _ = writeln!(stderr, "{} {message}", "error:".red().bold());
    }

    /// The exit code after the command's own: a write error on stdout
    /// overrides it (141 for a closed pipe, quietly; 1 with a message otherwise).
    pub fn finish(&self, code: ExitCode) -> ExitCode {
        let broken = self.broken.lock().unwrap_or_else(|p| p.into_inner()).take();
        match broken {
            None => code,
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_BROKEN_PIPE),
            Some(e) => {
                self.error_line(&format!("cannot write the output to stdout: {e}"));
                ExitCode::from(EXIT_REJECTED)
            }
        }
    }
}

/// `value` as JSON text, with [`SafeJson`] escaping.
pub fn json_text(value: &Value, pretty: bool) -> String {
    let mut out = Vec::new();
    let result = if pretty {
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, SafeJson::Pretty(Default::default())))
    } else {
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, SafeJson::Compact))
    };
    // Writing to a Vec cannot fail and a Value always serialises; the
    // fallback keeps even the impossible case panic-free.
    match result {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => "null".to_owned(),
    }
}

use serde::Serialize as _;

/// serde_json's formatters, also escaping as `\uXXXX` what serde_json
/// leaves raw but a terminal would act on (DEL, C1 controls such as the
/// 8-bit CSI, Unicode line separators, bidi overrides): the same set as
/// [`tokenkeep_core::text::is_unsafe`]. The JSON means the same.
pub enum SafeJson<'a> {
    Pretty(serde_json::ser::PrettyFormatter<'a>),
    Compact,
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            match self {
                SafeJson::Pretty(f) => serde_json::ser::Formatter::$name(f, writer $(, $arg)*),
                SafeJson::Compact => serde_json::ser::Formatter::$name(&mut serde_json::ser::CompactFormatter, writer $(, $arg)*),
            }
        })*
    };
}

impl serde_json::ser::Formatter for SafeJson<'_> {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if tokenkeep_core::text::is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
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
    fn json_escapes_what_a_terminal_would_act_on() {
        let v = json!({"k\u{1b}": "a\u{9b}31m\u{202e}b\u{7f}\n", "n": 1});
        let text = json_text(&v, false);
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("\\u009b31m\\u202eb\\u007f\\n"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "the same JSON");
        let pretty = json_text(&v, true);
        assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), v);
        assert!(pretty.contains("\n  \""), "{pretty}");
    }

    #[test]
    fn utc_format() {
        assert_eq!(utc(1_767_225_600.0).unwrap(), "2026-01-01 00:00:00 UTC");
        assert!(utc(-1.0).is_none());
        assert!(utc(f64::NAN).is_none());
        assert!(utc(1e20).is_none());
    }
}
