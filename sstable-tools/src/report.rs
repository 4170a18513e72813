//! One output path for text and JSON, so every command writes each fact once.
//!
//! A command hands each fact to the [`Report`] twice over: as a `Serialize` value (used in
//! JSON mode) and as a closure that prints it as text (used in text mode). JSON output is
//! one object, streamed: top-level fields one a line, list items one a line, so a scan of
//! a huge table is written in constant memory. Whatever happens, [`Report::finish`] closes
//! the object; a failure becomes its `"error"` member, so a script always gets valid JSON.

use std::io::{self, Write};

use serde::Serialize;

/// Text or JSON output over `W`. See the module docs.
#[derive(Debug)]
pub struct Report<W: Write> {
    w: W,
    json: bool,
    /// JSON: whether the top-level object already has a member.
    top_has_member: bool,
    /// JSON: inside a list, whether it already has an item.
    list: Option<bool>,
}

impl<W: Write> Report<W> {
    /// Starts a report (in JSON mode, opens the top-level object).
    pub fn new(mut w: W, json: bool) -> io::Result<Self> {
        if json {
            w.write_all(b"{")?;
        }
        Ok(Report { w, json, top_has_member: false, list: None })
    }

    /// True in JSON mode.
    pub fn is_json(&self) -> bool {
        self.json
    }

    fn member_prefix(&mut self, name: &str) -> io::Result<()> {
        self.close_list()?;
        let sep = if self.top_has_member { "," } else { "" };
        self.top_has_member = true;
        write!(self.w, "{sep}\n  {}: ", json_string(name))
    }

    fn close_list(&mut self) -> io::Result<()> {
        if let Some(has_items) = self.list.take() {
            self.w.write_all(if has_items { b"\n  ]" } else { b"]" })?;
        }
        Ok(())
    }

    /// One fact: `"name": value` in JSON, `text(w, value)` in text mode.
    pub fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
        text: impl FnOnce(&mut W, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.json {
            self.member_prefix(name)?;
            serde_json::to_writer(&mut self.w, value).map_err(io::Error::other)
        } else {
            text(&mut self.w, value)
        }
    }

    /// Opens a list named `name` (JSON) or runs `heading` (text).
    pub fn begin_list(&mut self, name: &str, heading: impl FnOnce(&mut W) -> io::Result<()>) -> io::Result<()> {
        if self.json {
            self.member_prefix(name)?;
            self.w.write_all(b"[")?;
            self.list = Some(false);
            Ok(())
        } else {
            heading(&mut self.w)
        }
    }

    /// One item of the open list.
    pub fn item<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        text: impl FnOnce(&mut W, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.json {
            let sep = if self.list == Some(true) { "," } else { "" };
            self.list = Some(true);
            write!(self.w, "{sep}\n    ")?;
            serde_json::to_writer(&mut self.w, value).map_err(io::Error::other)
        } else {
            text(&mut self.w, value)
        }
    }

    /// Closes the open list (JSON); does nothing in text mode.
    pub fn end_list(&mut self) -> io::Result<()> {
        if self.json {
            self.close_list()?;
        }
        Ok(())
    }

    /// Text-only output (headings, blank lines).
    pub fn text(&mut self, f: impl FnOnce(&mut W) -> io::Result<()>) -> io::Result<()> {
        if self.json {
            Ok(())
        } else {
            f(&mut self.w)
        }
    }

    /// Ends the report. In JSON mode writes `"error": message-or-null` and closes the
    /// object; in text mode the error is left to the caller (it goes to stderr).
    pub fn finish(mut self, error: Option<&str>) -> io::Result<()> {
        if self.json {
            self.member_prefix("error")?;
            serde_json::to_writer(&mut self.w, &error).map_err(io::Error::other)?;
            self.w.write_all(b"\n}\n")?;
        }
        self.w.flush()
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: bool, error: Option<&str>) -> String {
        let mut out = Vec::new();
        let mut r = Report::new(&mut out, json).unwrap();
        r.field("a", &1, |w, v| writeln!(w, "a = {v}")).unwrap();
        r.begin_list("l", |w| writeln!(w, "list")).unwrap();
        r.item(&"x", |w, v| writeln!(w, "  {v}")).unwrap();
        r.item(&"y", |w, v| writeln!(w, "  {v}")).unwrap();
        r.begin_list("empty", |_| Ok(())).unwrap();
        r.finish(error).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_mode_runs_the_closures() {
        assert_eq!(run(false, None), "a = 1\nlist\n  x\n  y\n");
    }

    #[test]
    fn json_mode_is_valid_json_even_with_an_open_list_and_an_error() {
        let v: serde_json::Value = serde_json::from_str(&run(true, Some("boom"))).unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["l"], serde_json::json!(["x", "y"]));
        assert_eq!(v["empty"], serde_json::json!([]));
        assert_eq!(v["error"], "boom");
        let v: serde_json::Value = serde_json::from_str(&run(true, None)).unwrap();
        assert!(v["error"].is_null());
    }
}
