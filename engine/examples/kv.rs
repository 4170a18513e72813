//! A small command-line front end to an engine database.
//!
//! ```text
//! cargo run --release -p engine --example kv                       # demo on ./data/kv
//! cargo run --release -p engine --example kv -- --db DIR put KEY VALUE
//! cargo run --release -p engine --example kv -- --db DIR get KEY
//! cargo run --release -p engine --example kv -- --db DIR del KEY
//! cargo run --release -p engine --example kv -- --db DIR scan [FROM [TO]]
//! cargo run --release -p engine --example kv -- --db DIR fill N     # N random keys
//! cargo run --release -p engine --example kv -- --db DIR compact
//! cargo run --release -p engine --example kv -- --db DIR stats
//! ```

use std::process::ExitCode;
use std::time::Instant;

use engine::{Db, Options, ReadOptions, WriteBatch, WriteOptions};

fn usage() -> ExitCode {
    eprintln!(
        "usage: kv [--db DIR] [demo | put KEY VALUE | get KEY | del KEY | scan [FROM [TO]] | fill N | compact | stats]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = String::from("data/kv");
    if args.first().map(String::as_str) == Some("--db") {
        if args.len() < 2 {
            return usage();
        }
        dir = args.remove(1);
        args.remove(0);
    }
    match run(&dir, &args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kv: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, args: &[String]) -> engine::Result<ExitCode> {
    let cmd: Vec<&str> = args.iter().map(String::as_str).collect();
    let db = Db::open(dir, Options::default())?;
    let wo = WriteOptions::default();
    let ro = ReadOptions::default();
    match cmd.as_slice() {
        [] | ["demo"] => demo(&db)?,
        ["put", k, v] => db.put(&WriteOptions { sync: true }, k.as_bytes(), v.as_bytes())?,
        ["get", k] => match db.get(&ro, k.as_bytes())? {
            Some(v) => println!("{}", String::from_utf8_lossy(&v)),
            None => {
                eprintln!("not found");
                return Ok(ExitCode::from(1));
            }
        },
        ["del", k] => db.delete(&WriteOptions { sync: true }, k.as_bytes())?,
        ["scan", rest @ ..] if rest.len() <= 2 => {
            let ro = ReadOptions {
                lower_bound: rest.first().map(|s| s.as_bytes().to_vec()),
                upper_bound: rest.get(1).map(|s| s.as_bytes().to_vec()),
                ..Default::default()
            };
            let mut it = db.iter(&ro)?;
            it.seek_to_first();
            while it.valid() {
                println!("{} = {}", String::from_utf8_lossy(it.key()), String::from_utf8_lossy(it.value()));
                it.next();
            }
            it.status()?;
        }
        ["fill", n] => {
            let n: u64 = n.parse().map_err(|_| engine::Error::InvalidArgument(format!("not a count: {n}")))?;
            fill(&db, n, &wo)?;
        }
        ["compact"] => db.compact_range(None, None)?,
        ["stats"] => println!("{}", db.stats()),
        _ => return Ok(usage()),
    }
    db.close()?;
    Ok(ExitCode::SUCCESS)
}

fn fill(db: &Db, n: u64, wo: &WriteOptions) -> engine::Result<()> {
    let start = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut batch = WriteBatch::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        batch.put(format!("{:016}", x % (n * 10)).as_bytes(), format!("value-{i:0>92}").as_bytes());
        if batch.count() == 100 {
            db.write(wo, std::mem::take(&mut batch))?;
        }
    }
    db.write(wo, batch)?;
    let secs = start.elapsed().as_secs_f64();
    println!("wrote {n} keys in {secs:.2} s ({:.0} ops/s)", n as f64 / secs);
    Ok(())
}

fn demo(db: &Db) -> engine::Result<()> {
    println!("engine demo on {}", db.path().display());
    fill(db, 200_000, &WriteOptions::default())?;
    db.flush()?;
    let ro = ReadOptions::default();
    let start = Instant::now();
    let mut found = 0;
    for i in 0..100_000u64 {
        if db.get(&ro, format!("{:016}", i * 17 % 2_000_000).as_bytes())?.is_some() {
            found += 1;
        }
    }
    println!("100000 random gets ({found} found) in {:.2} s", start.elapsed().as_secs_f64());
    let start = Instant::now();
    let mut it = db.iter(&ro)?;
    it.seek_to_first();
    let mut n = 0u64;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status()?;
    println!("scanned {n} keys in {:.2} s", start.elapsed().as_secs_f64());
    db.wait_for_compactions()?;
    println!("{}", db.stats());
    Ok(())
}
