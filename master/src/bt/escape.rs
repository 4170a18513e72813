//! How `bt` writes bytes as text and reads them back: row keys, qualifiers and values on
//! the command line, in its output and in CSV files.
//!
//! Printable text stays as it is (ASCII and any other printable Unicode in valid UTF-8);
//! everything else is escaped: `\\` for a backslash, `\n`, `\r`, `\t`, and `\xNN` for any
//! other byte (control characters, invalid UTF-8). In quoted output a `"` is written
//! `\"`. [`unescape`] accepts all of these, so what `bt` prints can be pasted back, and
//! arbitrary bytes can be written on the command line (`bt set t 'k\x00' cf:c='\xff'`).
//! A backslash followed by anything else is an error.

/// `bytes` as text, escaped as the module describes; `quote` also escapes `"`.
pub fn escape(bytes: &[u8], quote: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' if quote => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The bytes `text` stands for (see the module docs); the error says what is wrong and at
/// which character.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next().map(|(_, c)| c) {
            Some('\\') => out.push(b'\\'),
            Some('"') => out.push(b'"'),
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                let byte = (hex.len() == 2).then(|| u8::from_str_radix(&hex, 16).ok()).flatten().ok_or_else(|| {
                    format!("bad escape at character {i} of {text:?}: \\x must be followed by two hex digits")
                })?;
                out.push(byte);
            }
            Some(other) => {
                return Err(format!(
                    "bad escape \\{other} at character {i} of {text:?} (use \\\\ for a backslash, or \\xNN)"
                ))
            }
            None => return Err(format!("{text:?} ends with a lone backslash (use \\\\ for a backslash)")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept_and_other_bytes_escaped() {
        assert_eq!(escape(b"user#1", false), "user#1");
        assert_eq!(escape("naïve".as_bytes(), false), "naïve");
        assert_eq!(escape(b"a\x00b\xffc\n\\", false), "a\\x00b\\xffc\\n\\\\");
        assert_eq!(escape(b"say \"hi\"", true), "say \\\"hi\\\"");
        assert_eq!(escape(b"say \"hi\"", false), "say \"hi\"");
        assert_eq!(escape(b"\x7f\x1b", false), "\\x7f\\x1b");
    }

    #[test]
    fn every_byte_string_roundtrips() {
        let all: Vec<u8> = (0..=255u8).collect();
        for quote in [false, true] {
            assert_eq!(unescape(&escape(&all, quote)).unwrap(), all);
        }
        let samples: [&[u8]; 5] = [b"", b"\\x41", "é\u{0}".as_bytes(), b"\xc3", b"\"q\"\t"];
        for s in samples {
            assert_eq!(unescape(&escape(s, true)).unwrap(), s, "{s:?}");
        }
    }

    #[test]
    fn bad_escapes_are_named() {
        assert_eq!(
            unescape("a\\x4").unwrap_err(),
            "bad escape at character 1 of \"a\\\\x4\": \\x must be followed by two hex digits"
        );
        assert!(unescape("a\\xzz").unwrap_err().contains("two hex digits"));
        assert!(unescape("a\\q").unwrap_err().contains("bad escape \\q at character 1"));
        assert!(unescape("a\\").unwrap_err().contains("lone backslash"));
        assert_eq!(unescape("\\x41\\\\\\\"").unwrap(), b"A\\\"");
    }
}
