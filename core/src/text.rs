//! Attacker-chosen text (a kid, a claim name or value, a header a server
//! sent, an error a server wrote) on its way to a terminal or a log line.
//!
//! [`sanitize`] is the one way such a string is printed by every host and by
//! the CLI: characters that move the cursor, start an escape sequence, fake a
//! line break or reorder what follows are replaced with U+FFFD, so what is
//! shown is exactly one line in logical order. JSON output needs no such
//! step (the JSON encoder escapes), but hosts may use [`is_unsafe`] to escape
//! the same characters as `\uXXXX` there too.

use std::borrow::Cow;

/// What stands in for a refused character.
pub const REPLACEMENT: char = '\u{fffd}';

/// Whether `c` must not reach a terminal or a log line as is: C0 and C1
/// controls (ESC, CSI, CR, LF, BEL, DEL…), the Unicode line and paragraph
/// separators, and the bidirectional formatting characters (U+202E
/// RIGHT-TO-LEFT OVERRIDE and its kin, which reorder the rest of a line).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'               // arabic letter mark
            | '\u{200e}' | '\u{200f}' // left-to-right / right-to-left mark
            | '\u{2028}' | '\u{2029}' // line / paragraph separator
            | '\u{202a}'..='\u{202e}' // embeddings and overrides
            | '\u{2066}'..='\u{2069}' // isolates
        )
}

/// `s` with every [`is_unsafe`] character replaced by U+FFFD; borrowed when
/// nothing needed replacing.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if is_unsafe(c) { REPLACEMENT } else { c }).collect())
}

/// [`sanitize`], keeping at most `max_chars` characters (`…` marks a cut):
/// for context in an error message, where a long string helps nobody.
pub fn sanitize_clipped(s: &str, max_chars: usize) -> String {
    let mut out: String = sanitize(s).chars().take(max_chars).collect();
    if s.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_escape_sequences_and_bidi_overrides() {
        assert_eq!(sanitize("a\nb\rc"), "a\u{fffd}b\u{fffd}c");
        assert_eq!(sanitize("\u{1b}]0;owned\u{7}x"), "\u{fffd}]0;owned\u{fffd}x");
        assert_eq!(sanitize("\u{9b}31m"), "\u{fffd}31m", "8-bit CSI");
        assert_eq!(sanitize("admin\u{202e}txt.exe"), "admin\u{fffd}txt.exe");
        assert_eq!(sanitize("a\u{2028}b\u{2066}c\u{7f}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
        assert!(matches!(sanitize("plain ünïcode ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(sanitize_clipped("a\nb", 64), "a\u{fffd}b");
        assert_eq!(sanitize_clipped(&"é".repeat(100), 64).chars().count(), 65);
        assert_eq!(sanitize_clipped("abc", 3), "abc");
    }
}
