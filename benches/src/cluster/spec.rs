//! What the benchmarks are: the Bigtable paper's six (§7, Figure 6) and YCSB's core
//! workloads A–F, with their names on the command line, key formats and op mixes.

use std::fmt;

use super::generators::fnv_hash64;
use crate::{BenchError, Result};

/// One of the Bigtable paper's benchmarks (§7): one 1000-byte value in one column per row,
/// rows `0..R` named by [`paper_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    /// Rows `0..R` in order; the key range is cut into `10 × threads` pieces handed to the
    /// next free worker (the paper's central scheduler). Loads the table.
    SequentialWrite,
    /// Row `hash(i) mod R` for op `i`.
    RandomWrite,
    /// Point reads of rows in order, in the same pieces as the sequential write.
    SequentialRead,
    /// Point reads of uniformly random rows.
    RandomRead,
    /// Random reads of a table a tenth of the size, small enough to sit in the tablet
    /// servers' block caches (the paper's in-memory locality group, emulated).
    RandomReadMem,
    /// The sequential read's pieces read by `ReadRows` range scans (one RPC per piece);
    /// ops are rows.
    Scan,
}

impl Paper {
    /// All six, in an order where each finds the data it needs (the write loads first).
    pub const ALL: [Paper; 6] = [
        Paper::SequentialWrite,
        Paper::RandomWrite,
        Paper::SequentialRead,
        Paper::RandomRead,
        Paper::RandomReadMem,
        Paper::Scan,
    ];

    /// The name after `paper:`.
    pub fn name(self) -> &'static str {
        match self {
            Paper::SequentialWrite => "sequential-write",
            Paper::RandomWrite => "random-write",
            Paper::SequentialRead => "sequential-read",
            Paper::RandomRead => "random-read",
            Paper::RandomReadMem => "random-read-mem",
            Paper::Scan => "scan",
        }
    }

    /// The paper's Figure 6 figure for one tablet server, in 1000-byte values read or
    /// written per second.
    pub fn figure6_single_server(self) -> f64 {
        match self {
            Paper::RandomRead => 1212.0,
            Paper::RandomReadMem => 10811.0,
            Paper::RandomWrite => 8850.0,
            Paper::SequentialRead => 4425.0,
            Paper::SequentialWrite => 8547.0,
            Paper::Scan => 15385.0,
        }
    }

    fn parse(s: &str) -> Option<Paper> {
        Some(match s {
            "sequential-write" | "seq-write" => Paper::SequentialWrite,
            "random-write" => Paper::RandomWrite,
            "sequential-read" | "seq-read" => Paper::SequentialRead,
            "random-read" => Paper::RandomRead,
            "random-read-mem" => Paper::RandomReadMem,
            "scan" => Paper::Scan,
            _ => return None,
        })
    }
}

/// Where a YCSB workload's keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Scrambled zipfian over the records (θ = 0.99).
    Zipfian,
    /// Every record equally likely.
    Uniform,
    /// Zipfian from the newest record backwards.
    Latest,
}

impl Distribution {
    /// Parses `zipfian`, `uniform` or `latest`.
    pub fn parse(s: &str) -> Result<Distribution> {
        match s {
            "zipfian" => Ok(Distribution::Zipfian),
            "uniform" => Ok(Distribution::Uniform),
            "latest" => Ok(Distribution::Latest),
            _ => Err(BenchError::Flag {
                flag: "distribution",
                reason: format!("{s:?} is not one of zipfian, uniform, latest"),
            }),
        }
    }

    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Zipfian => "zipfian",
            Distribution::Uniform => "uniform",
            Distribution::Latest => "latest",
        }
    }
}

/// A YCSB core workload: proportions of each operation (summing to 1) and the request
/// distribution (YCSB's `workloads/workload[a-f]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ycsb {
    /// `a` to `f`.
    pub letter: char,
    /// Read a whole record.
    pub read: f64,
    /// Overwrite one field of a record.
    pub update: f64,
    /// Insert a new record (all fields).
    pub insert: f64,
    /// Read up to [`MAX_SCAN_LENGTH`] records from a key on (length uniform in `1..=100`).
    pub scan: f64,
    /// Read a record, then overwrite one of its fields.
    pub read_modify_write: f64,
    /// How keys are picked.
    pub distribution: Distribution,
}

/// YCSB's `maxscanlength`.
pub const MAX_SCAN_LENGTH: u64 = 100;
/// Fields per record (YCSB's `fieldcount`).
pub const FIELDS: usize = 10;
/// Bytes per field (YCSB's `fieldlength`).
pub const FIELD_BYTES: usize = 100;

impl Ycsb {
    /// Workload `letter` (`a`–`f`).
    pub fn workload(letter: char) -> Option<Ycsb> {
        let w = |read, update, insert, scan, rmw, distribution| Ycsb {
            letter,
            read,
            update,
            insert,
            scan,
            read_modify_write: rmw,
            distribution,
        };
        use Distribution::*;
        Some(match letter {
            'a' => w(0.5, 0.5, 0.0, 0.0, 0.0, Zipfian),
            'b' => w(0.95, 0.05, 0.0, 0.0, 0.0, Zipfian),
            'c' => w(1.0, 0.0, 0.0, 0.0, 0.0, Zipfian),
            'd' => w(0.95, 0.0, 0.05, 0.0, 0.0, Latest),
            'e' => w(0.0, 0.0, 0.05, 0.95, 0.0, Zipfian),
            'f' => w(0.5, 0.0, 0.0, 0.0, 0.5, Zipfian),
            _ => return None,
        })
    }

    /// YCSB's recommended order: the read/update mixes first, then the two that insert.
    pub const ORDER: [char; 6] = ['a', 'b', 'c', 'f', 'd', 'e'];
}

/// One benchmark of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Benchmark {
    /// `paper:<name>`.
    Paper(Paper),
    /// `ycsb:<letter>`.
    Ycsb(Ycsb),
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Benchmark::Paper(p) => write!(f, "paper:{}", p.name()),
            Benchmark::Ycsb(y) => write!(f, "ycsb:{}", y.letter),
        }
    }
}

/// Parses `--benchmarks`: a comma-separated list of `paper:NAME`, `ycsb:LETTER`, or `paper`
/// / `ycsb` for all of one family (in [`Paper::ALL`] / [`Ycsb::ORDER`] order).
pub fn parse_benchmarks(list: &str) -> Result<Vec<Benchmark>> {
    let bad = |item: &str, why: &str| BenchError::Flag { flag: "benchmarks", reason: format!("{item:?}: {why}") };
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once(':') {
            None if item == "paper" => out.extend(Paper::ALL.map(Benchmark::Paper)),
            None if item == "ycsb" => {
                out.extend(Ycsb::ORDER.iter().filter_map(|&c| Ycsb::workload(c)).map(Benchmark::Ycsb))
            }
            Some(("paper", name)) => out.push(Benchmark::Paper(Paper::parse(name).ok_or_else(|| {
                bad(
                    item,
                    "not one of sequential-write, random-write, sequential-read, random-read, random-read-mem, scan",
                )
            })?)),
            Some(("ycsb", w)) => {
                let mut chars = w.chars();
                let workload = match (chars.next(), chars.next()) {
                    (Some(c), None) => Ycsb::workload(c.to_ascii_lowercase()),
                    _ => None,
                };
                out.push(Benchmark::Ycsb(workload.ok_or_else(|| bad(item, "YCSB workloads are a to f"))?));
            }
            _ => return Err(bad(item, "expected paper:NAME, ycsb:LETTER, paper or ycsb")),
        }
    }
    if out.is_empty() {
        return Err(bad(list, "no benchmarks"));
    }
    Ok(out)
}

/// Row `n` of the paper's tables: ten decimal digits, so rows sort in number order.
pub fn paper_key(n: u64) -> Vec<u8> {
    // `format!("{n:010}")` without the formatting machinery (it was 1.4% of all CPU in a
    // write benchmark, driver and server together).
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut m = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    let written = &digits[i..];
    let mut key = Vec::with_capacity(written.len().max(10));
    key.resize(10usize.saturating_sub(written.len()), b'0');
    key.extend_from_slice(written);
    key
}

/// Record `n` of the YCSB table: `user` and the FNV hash of `n` (YCSB's hashed insert order).
pub fn ycsb_key(n: u64) -> Vec<u8> {
    format!("user{}", fnv_hash64(n)).into_bytes()
}

/// Split points cutting `keys` (any order) into `tablets` pieces of about equal count.
pub fn split_points(mut keys: Vec<Vec<u8>>, tablets: usize) -> Vec<Vec<u8>> {
    keys.sort_unstable();
    keys.dedup();
    let n = keys.len();
    let mut out: Vec<Vec<u8>> = (1..tablets)
        .filter_map(|i| keys.get(i * n / tablets.max(1)).cloned())
        .filter(|k| keys.first() != Some(k))
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_benchmark_lists() {
        let all = parse_benchmarks("paper,ycsb").unwrap();
        assert_eq!(all.len(), 12);
        assert_eq!(all[0].to_string(), "paper:sequential-write");
        let names: Vec<String> = all[6..].iter().map(ToString::to_string).collect();
        assert_eq!(names, ["ycsb:a", "ycsb:b", "ycsb:c", "ycsb:f", "ycsb:d", "ycsb:e"]);
        let two = parse_benchmarks("paper:scan, ycsb:E").unwrap();
        assert_eq!(two[0], Benchmark::Paper(Paper::Scan));
        assert!(matches!(two[1], Benchmark::Ycsb(Ycsb { letter: 'e', .. })));
        for bad in ["paper:nope", "ycsb:g", "ycsb:ab", "tpcc", "", "foo:a"] {
            let e = parse_benchmarks(bad).unwrap_err().to_string();
            assert!(e.contains("--benchmarks"), "{bad}: {e}");
        }
    }

    #[test]
    fn workloads_are_proportions() {
        for c in Ycsb::ORDER {
            let w = Ycsb::workload(c).unwrap();
            let sum = w.read + w.update + w.insert + w.scan + w.read_modify_write;
            assert!((sum - 1.0).abs() < 1e-9, "{c}: {sum}");
        }
        assert_eq!(Ycsb::workload('d').unwrap().distribution, Distribution::Latest);
    }

    #[test]
    fn paper_keys_are_ten_digits_zero_padded() {
        for n in [0, 7, 10, 12_345, 999_999_999, 1_000_000_000, 9_999_999_999, 10_000_000_000, u64::MAX] {
            assert_eq!(paper_key(n), format!("{n:010}").into_bytes(), "{n}");
        }
        assert_eq!(paper_key(42), b"0000000042");
    }

    #[test]
    fn split_points_cut_evenly() {
        let keys: Vec<Vec<u8>> = (0..100).rev().map(paper_key).collect();
        assert_eq!(split_points(keys.clone(), 4), vec![paper_key(25), paper_key(50), paper_key(75)]);
        assert!(split_points(keys.clone(), 1).is_empty());
        assert_eq!(split_points(keys[..2].to_vec(), 8), vec![paper_key(99)]);
        let y = split_points((0..1000).map(ycsb_key).collect(), 3);
        assert_eq!(y.len(), 2);
        assert!(y[0] < y[1]);
    }
}
