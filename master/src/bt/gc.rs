//! GC policies as `bt` reads and prints them, cbt's syntax:
//!
//! ```text
//! policy := never | expr
//! expr   := term ("or" term)*          -- a cell goes when any part would collect it
//! term   := atom ("and" atom)*         -- ... when every part would ("and" binds tighter)
//! atom   := maxversions=N | maxage=DURATION | "(" expr ")"
//! DURATION := one or more NUMBER UNIT, UNIT one of d h m s ms (e.g. 1d, 12h, 1h30m, 500ms)
//! ```
//!
//! `||` and `&&` are accepted for `or` and `and`. [`format`] prints a rule back in the
//! same syntax, so `bt ls TABLE`'s output can be pasted into `bt setgcpolicy`.

use std::time::Duration;

use tablet::proto::admin::{gc_rule as agc, GcRule};

/// A parsed GC policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Keep everything (no rule).
    Never,
    /// Keep the newest N versions of each column.
    MaxVersions(i32),
    /// Keep cells younger than this.
    MaxAge(Duration),
    /// Collect what any part collects.
    Union(Vec<Policy>),
    /// Collect what every part collects.
    Intersection(Vec<Policy>),
}

impl Policy {
    /// The admin API's rule (`None` for [`Policy::Never`]).
    pub fn to_admin(&self) -> Option<GcRule> {
        let rule = match self {
            Policy::Never => return None,
            Policy::MaxVersions(n) => agc::Rule::MaxNumVersions(*n),
            Policy::MaxAge(d) => agc::Rule::MaxAge(prost_types::Duration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            }),
            Policy::Union(ps) => {
                agc::Rule::Union(agc::Union { rules: ps.iter().filter_map(Policy::to_admin).collect() })
            }
            Policy::Intersection(ps) => {
                agc::Rule::Intersection(agc::Intersection { rules: ps.iter().filter_map(Policy::to_admin).collect() })
            }
        };
        Some(GcRule { rule: Some(rule) })
    }
}

/// Parses a duration such as `1d`, `36h`, `1h30m`, `90s`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("bad duration {text:?}: {why} (examples: 7d, 12h, 1h30m, 90s, 500ms)");
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let (num, after) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad("number too large"))?;
        let unit_len = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let part = match unit {
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            "h" => n.checked_mul(3_600).map(Duration::from_secs),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(n)),
            "ms" => Some(Duration::from_millis(n)),
            "" => return Err(bad("a number needs a unit")),
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        total = part.and_then(|p| total.checked_add(p)).ok_or_else(|| bad("too large"))?;
        rest = next;
    }
    if total.is_zero() {
        return Err(bad("must be more than zero"));
    }
    Ok(total)
}

/// `d` in the units [`parse_duration`] reads, largest first (`1d12h`, `90ms`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

fn tokenize(text: &str) -> Vec<String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    spaced.split_whitespace().map(str::to_string).collect()
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn expr(&mut self) -> Result<Policy, String> {
        let mut parts = vec![self.term()?];
        while matches!(self.peek(), Some("or" | "||")) {
            self.at += 1;
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Policy::Union(parts) })
    }

    fn term(&mut self) -> Result<Policy, String> {
        let mut parts = vec![self.atom()?];
        while matches!(self.peek(), Some("and" | "&&")) {
            self.at += 1;
            parts.push(self.atom()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Policy::Intersection(parts) })
    }

    fn atom(&mut self) -> Result<Policy, String> {
        let Some(tok) = self.peek().map(str::to_string) else {
            return Err("expected maxversions=N, maxage=DURATION or \"(\" at the end".into());
        };
        self.at += 1;
        if tok == "(" {
            let inner = self.expr()?;
            if self.peek() != Some(")") {
                return Err("missing \")\"".into());
            }
            self.at += 1;
            return Ok(inner);
        }
        match tok.split_once('=') {
            Some(("maxversions", n)) => match n.parse::<i32>() {
                Ok(n) if n >= 1 => Ok(Policy::MaxVersions(n)),
                _ => Err(format!("maxversions must be a whole number from 1 to {}, got {n:?}", i32::MAX)),
            },
            Some(("maxage", d)) => Ok(Policy::MaxAge(parse_duration(d)?)),
            _ if tok == "never" => Err("\"never\" cannot be combined with other rules".into()),
            _ => Err(format!(
                "unexpected {tok:?}: expected maxversions=N, maxage=DURATION, \"and\", \"or\" or parentheses"
            )),
        }
    }
}

/// Parses a policy (see the module docs); the error names the problem.
pub fn parse(text: &str) -> Result<Policy, String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err("empty GC policy (give never, maxversions=N, maxage=DURATION, or a combination)".into());
    }
    if tokens.len() == 1 && tokens[0] == "never" {
        return Ok(Policy::Never);
    }
    let mut p = Parser { tokens, at: 0 };
    let policy = p.expr()?;
    match p.peek() {
        None => Ok(policy),
        Some(t) => Err(format!("unexpected {t:?} after a complete policy")),
    }
}

/// An admin rule in the syntax [`parse`] reads (`never` for none).
pub fn format(rule: Option<&GcRule>) -> String {
    #[derive(PartialEq)]
    enum Parent {
        Top,
        Union,
        Intersection,
    }
    fn go(rule: &GcRule, parent: Parent) -> String {
        let join = |rules: &[GcRule], op: &str, me: fn() -> Parent, bare: bool| {
            let parts: Vec<String> = rules.iter().map(|r| go(r, me())).collect();
            let s = parts.join(op);
            if bare || rules.len() < 2 {
                s
            } else {
                format!("({s})")
            }
        };
        match &rule.rule {
            None => "never".into(),
            Some(agc::Rule::MaxNumVersions(n)) => format!("maxversions={n}"),
            Some(agc::Rule::MaxAge(d)) => {
                let secs = u64::try_from(d.seconds).unwrap_or(0);
                let nanos = u32::try_from(d.nanos).unwrap_or(0);
                format!("maxage={}", format_duration(Duration::new(secs, nanos)))
            }
            // "and" binds tighter than "or": only a union inside an intersection, or a
            // rule nested in one of its own kind, needs parentheses.
            Some(agc::Rule::Union(u)) => join(&u.rules, " or ", || Parent::Union, parent == Parent::Top),
            Some(agc::Rule::Intersection(i)) => {
                join(&i.rules, " and ", || Parent::Intersection, parent != Parent::Intersection)
            }
        }
    }
    rule.map_or_else(|| "never".into(), |r| go(r, Parent::Top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "d", "10", "3w", "0s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(90_000)), "1d1h");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
    }

    #[test]
    fn policies_parse_with_and_binding_tighter() {
        assert_eq!(parse("never").unwrap(), Policy::Never);
        assert_eq!(parse(" maxversions=3 ").unwrap(), Policy::MaxVersions(3));
        assert_eq!(
            parse("maxage=1d or maxversions=2").unwrap(),
            Policy::Union(vec![Policy::MaxAge(Duration::from_secs(86_400)), Policy::MaxVersions(2)])
        );
        assert_eq!(
            parse("maxversions=1 || maxage=1h && maxversions=5").unwrap(),
            Policy::Union(vec![
                Policy::MaxVersions(1),
                Policy::Intersection(vec![Policy::MaxAge(Duration::from_secs(3_600)), Policy::MaxVersions(5)]),
            ])
        );
        assert_eq!(
            parse("(maxversions=1 or maxage=1h) and maxversions=5").unwrap(),
            Policy::Intersection(vec![
                Policy::Union(vec![Policy::MaxVersions(1), Policy::MaxAge(Duration::from_secs(3_600))]),
                Policy::MaxVersions(5),
            ])
        );
        for (bad, want) in [
            ("", "empty GC policy"),
            ("maxversions=0", "maxversions must be"),
            ("maxversions=x", "maxversions must be"),
            ("maxage=3", "needs a unit"),
            ("never or maxversions=1", "cannot be combined"),
            ("maxversions=1 or", "at the end"),
            ("maxversions=1 maxage=1d", "after a complete policy"),
            ("(maxversions=1", "missing"),
            ("versions=1", "unexpected \"versions=1\""),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn format_reads_back() {
        for text in [
            "never",
            "maxversions=3",
            "maxage=1d12h",
            "maxage=1d or maxversions=2",
            "maxversions=1 or maxage=1h and maxversions=5",
            "(maxversions=1 or maxage=1h) and maxversions=5",
        ] {
            let p = parse(text).unwrap();
            let printed = format(p.to_admin().as_ref());
            assert_eq!(printed, text);
            assert_eq!(parse(&printed).unwrap(), p);
        }
    }
}
