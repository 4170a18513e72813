//! The CSV files of `bt import` and `bt export` (RFC 4180 quoting, UTF-8):
//!
//! ```text
//! row,cf:name,cf:age,meta:\x00bin      header: "row", then family:qualifier per column
//! user#1,Ada,36,                        one line per row; an empty field: no cell
//! user#2,"Hopper, Grace",,""            "" (quoted, empty): a cell with an empty value
//! k\xff\x00,caf\xc3\xa9,\n,\\           keys, qualifiers and values use bt's escapes
//! ```
//!
//! Binary safety: every row key, qualifier and value is written with the escapes of
//! [`super::escape`] (`\\`, `\n`, `\r`, `\t`, `\xNN`), so an exported file is printable
//! text with one line per row whatever the bytes; fields holding `,` or `"` are quoted
//! (`"` doubled inside) as RFC 4180 says. Import reads the same, and also accepts quoted
//! fields that span lines. Export writes the newest version of each column only.

use std::io::{BufRead, Write};

/// One field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The text between the separators, quotes removed.
    pub text: String,
    /// True when the field was quoted (`""` is an empty value, an empty field no value).
    pub quoted: bool,
}

/// Reads records; counts lines (for error messages) and bytes (for progress).
pub struct Reader<R> {
    input: R,
    /// Lines read so far.
    line: u64,
    /// The line the last record started on.
    record_line: u64,
    bytes: u64,
}

impl<R: BufRead> Reader<R> {
    /// A reader of `input`.
    pub fn new(input: R) -> Self {
        Reader { input, line: 0, record_line: 0, bytes: 0 }
    }

    /// The line the last record started on (1-based).
    pub fn record_line(&self) -> u64 {
        self.record_line
    }

    /// Bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn read_line(&mut self, buf: &mut String) -> Result<usize, String> {
        let n = self.input.read_line(buf).map_err(|e| format!("line {}: {e}", self.line + 1))?;
        self.bytes += n as u64;
        Ok(n)
    }

    /// The next record, `None` at the end of the input. Blank lines are skipped.
    pub fn next_record(&mut self) -> Result<Option<Vec<Field>>, String> {
        let mut text = String::new();
        loop {
            text.clear();
            if self.read_line(&mut text)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !text.trim_end_matches(['\r', '\n']).is_empty() {
                break;
            }
        }
        let start_line = self.line;
        self.record_line = start_line;
        let mut fields = Vec::new();
        let mut field = Field { text: String::new(), quoted: false };
        let mut in_quotes = false;
        let mut at_field_start = true;
        let mut pos = 0;
        loop {
            let Some(c) = text.get(pos..).and_then(|s| s.chars().next()) else {
                if in_quotes {
                    // A quoted field goes on on the next line.
                    if self.read_line(&mut text)? == 0 {
                        return Err(format!(
                            "line {start_line}: a quoted field is not closed before the end of the file"
                        ));
                    }
                    self.line += 1;
                    continue;
                }
                break;
            };
            pos += c.len_utf8();
            if in_quotes {
                if c == '"' {
                    if text.get(pos..).is_some_and(|s| s.starts_with('"')) {
                        field.text.push('"');
                        pos += 1;
                    } else {
                        in_quotes = false;
                    }
                } else {
                    field.text.push(c);
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    in_quotes = true;
                    field.quoted = true;
                    at_field_start = false;
                }
                '"' => {
                    return Err(format!(
                        "line {}: a quote inside an unquoted field (quote the field and double the \")",
                        self.line
                    ))
                }
                ',' => {
                    fields.push(std::mem::replace(&mut field, Field { text: String::new(), quoted: false }));
                    at_field_start = true;
                }
                '\r' | '\n' => {}
                c if field.quoted => {
                    return Err(format!("line {}: {c:?} after the closing quote of a field", self.line));
                }
                c => {
                    field.text.push(c);
                    at_field_start = false;
                }
            }
        }
        fields.push(field);
        Ok(Some(fields))
    }
}

/// One field as written: `None` (no cell) is empty; text holding `,` or `"`, and empty
/// text (a cell with an empty value), is quoted.
pub fn field(text: Option<&str>) -> String {
    match text {
        None => String::new(),
        Some(t) if t.is_empty() || t.contains([',', '"', '\n', '\r']) => format!("\"{}\"", t.replace('"', "\"\"")),
        Some(t) => t.to_string(),
    }
}

/// Writes one record.
pub fn write_record(out: &mut impl Write, fields: &[String]) -> std::io::Result<()> {
    out.write_all(fields.join(",").as_bytes())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Vec<(String, bool)>>, String> {
        let mut r = Reader::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec.into_iter().map(|f| (f.text, f.quoted)).collect());
        }
        Ok(out)
    }

    fn plain(fields: &[&str]) -> Vec<(String, bool)> {
        fields.iter().map(|f| (f.to_string(), false)).collect()
    }

    #[test]
    fn quoting_blank_lines_and_crlf() {
        let got = records("row,cf:a\r\n\r\nk1,\"x, \"\"y\"\"\"\nk2,\n\nk3,\"\"\n").unwrap();
        assert_eq!(got[0], plain(&["row", "cf:a"]));
        assert_eq!(got[1], vec![("k1".into(), false), ("x, \"y\"".into(), true)]);
        assert_eq!(got[2], plain(&["k2", ""]));
        assert_eq!(got[3], vec![("k3".into(), false), (String::new(), true)]);
        assert_eq!(got.len(), 4);
        // No newline at the end; a quoted field across lines.
        assert_eq!(records("a,\"b\nc\"").unwrap(), vec![vec![("a".into(), false), ("b\nc".into(), true)]]);
    }

    #[test]
    fn malformed_records_name_the_line() {
        assert_eq!(
            records("a\nb\"c\n").unwrap_err(),
            "line 2: a quote inside an unquoted field (quote the field and double the \")"
        );
        assert!(records("a\n\"b\n").unwrap_err().starts_with("line 2: a quoted field is not closed"));
        assert!(records("\"a\"b\n").unwrap_err().contains("after the closing quote"));
    }

    #[test]
    fn written_fields_read_back() {
        let values = [None, Some(""), Some("plain"), Some("a,b"), Some("say \"hi\""), Some("\\x00")];
        let mut out = Vec::new();
        write_record(&mut out, &values.iter().map(|v| field(*v)).collect::<Vec<_>>()).unwrap();
        let got = records(std::str::from_utf8(&out).unwrap()).unwrap();
        let back: Vec<Option<String>> =
            got[0].iter().map(|(t, q)| if t.is_empty() && !q { None } else { Some(t.clone()) }).collect();
        assert_eq!(back, values.iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>());
    }
}
