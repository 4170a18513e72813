//! Whole-table tests: builder + reader + iterator + inspection, on `MemFs`.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::fs::{read_all, FaultOp, Fs, MemFs};
use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, make_internal_key, user_key, ValueKind};
use crate::sstable::block_builder::BlockBuilder;
use crate::sstable::format::{
    block_trailer, BlockHandle, Compression, Footer, FILTER_BLOCK_NAME, FORMAT_VERSION, PROPERTIES_BLOCK_NAME,
};
use crate::sstable::inspect::BlockKind;
use crate::sstable::properties::Properties;
use crate::sstable::table::{BlockCache, Table, TableReadOptions};
use crate::sstable::table_builder::{TableBuilder, TableBuilderOptions, TableSummary};
use crate::sstable::testutil::{check_iterator_against_model, random_target, Rng};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn gen_entries(rng: &mut Rng, n: usize) -> Entries {
    let mut v: Entries = (0..n)
        .map(|i| {
            let uk = format!("user/{:08}", rng.below(n as u64 * 2)).into_bytes();
            let kind = if rng.below(8) == 0 { ValueKind::Deletion } else { ValueKind::Value };
            let k = make_internal_key(&uk, rng.below(1 << 40) + 1, kind);
            let len = match rng.below(20) {
                0 => rng.below(5000) as usize,
                1 => 0,
                _ => rng.below(100) as usize,
            };
            let value = (0..len).map(|j| b"abcabcxyz"[(i + j / 3) % 9]).collect();
            (k, value)
        })
        .collect();
    v.sort_by(|a, b| compare_internal(&a.0, &b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

fn create(fs: &MemFs, path: &Path) -> Box<dyn crate::fs::WritableFile> {
    fs.create_dir_all(crate::fs::parent_dir(path)).unwrap();
    fs.create(path).unwrap()
}

fn build(fs: &MemFs, path: &Path, entries: &Entries, opts: TableBuilderOptions) -> TableSummary {
    let mut b = TableBuilder::new(create(fs, path), path.to_path_buf(), opts);
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    b.finish().unwrap()
}

fn open(fs: &MemFs, path: &Path, cache: Option<Arc<BlockCache>>) -> crate::Result<Arc<Table>> {
    let f = fs.open_random(path)?;
    let size = f.size();
    Table::open(f, path.to_path_buf(), size, cache, true)
}

fn model_get<'a>(entries: &'a Entries, lookup: &[u8]) -> Option<&'a (Vec<u8>, Vec<u8>)> {
    let i = entries.partition_point(|e| compare_internal(&e.0, lookup) == Ordering::Less);
    entries.get(i).filter(|e| user_key(&e.0) == user_key(lookup))
}

fn get(t: &Table, k: &[u8]) -> crate::Result<Option<(Vec<u8>, Vec<u8>)>> {
    t.get(k, &TableReadOptions::default(), |k, v| (k.to_vec(), v.to_vec()))
}

#[test]
fn roundtrip_many_option_sets() {
    let mut rng = Rng::new(2024);
    let entries = gen_entries(&mut rng, 4000);
    let cache = Arc::new(BlockCache::new(1 << 20));
    for (i, (block_size, restart, compression, bits)) in [
        (4096, 16, Compression::Lz4, 10),
        (256, 4, Compression::None, 10),
        (64, 1, Compression::Lz4, 0),
        (1 << 16, 16, Compression::Lz4, 3),
    ]
    .into_iter()
    .enumerate()
    {
        let fs = MemFs::new();
        let path = PathBuf::from(format!("/db/{i:06}.sst"));
        let opts = TableBuilderOptions {
            block_size,
            restart_interval: restart,
            compression,
            bloom_bits_per_key: bits,
            creation_time: 99,
        };
        let s = build(&fs, &path, &entries, opts);
        assert_eq!(s.num_entries, entries.len() as u64);
        assert_eq!(s.smallest_key, entries[0].0);
        assert_eq!(s.largest_key, entries.last().unwrap().0);
        let cache_opt = (i % 2 == 0).then(|| cache.clone());
        let t = open(&fs, &path, cache_opt).unwrap();
        assert_eq!(t.properties(), &s.properties);
        assert_eq!(t.properties().format_version, FORMAT_VERSION);
        assert_eq!(t.path(), path.as_path());

        let mut it = t.iter(TableReadOptions::default());
        check_iterator_against_model(&mut it, &entries, &mut rng, 3000);

        for e in &entries {
            assert!(t.may_contain(user_key(&e.0)));
            assert_eq!(get(&t, &e.0).unwrap().as_ref(), Some(e));
        }
        for _ in 0..2000 {
            let target = random_target(&mut rng, &entries);
            assert_eq!(get(&t, &target).unwrap().as_ref(), model_get(&entries, &target), "{target:?}");
        }
        let report = t.verify().unwrap();
        assert_eq!(report.entries, entries.len() as u64);
        assert_eq!(report.data_blocks, t.properties().num_data_blocks);
        assert_eq!(report.filter_checked, bits > 0);
    }
    assert!(cache.hits() > 0 && cache.usage() > 0);
}

#[test]
fn empty_table() {
    let fs = MemFs::new();
    let path = PathBuf::from("/e.sst");
    let s = build(&fs, &path, &Vec::new(), TableBuilderOptions::default());
    assert_eq!(s.num_entries, 0);
    let t = open(&fs, &path, None).unwrap();
    let mut it = t.iter(TableReadOptions::default());
    it.seek_to_first().unwrap();
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    assert!(!it.valid());
    it.seek(&make_internal_key(b"x", 1, ValueKind::Value)).unwrap();
    assert!(!it.valid());
    assert!(get(&t, &make_internal_key(b"x", 1, ValueKind::Value)).unwrap().is_none());
    assert_eq!(t.verify().unwrap().entries, 0);
}

#[test]
fn cache_fill_and_bypass() {
    let mut rng = Rng::new(5);
    let entries = gen_entries(&mut rng, 2000);
    let fs = MemFs::new();
    let path = PathBuf::from("/c.sst");
    build(&fs, &path, &entries, TableBuilderOptions { block_size: 512, ..Default::default() });
    let cache = Arc::new(BlockCache::new(64 << 20));
    let t = open(&fs, &path, Some(cache.clone())).unwrap();
    let no_fill = TableReadOptions { fill_cache: false, ..Default::default() };
    let mut it = t.iter(no_fill);
    it.seek_to_first().unwrap();
    while it.valid() {
        it.next().unwrap();
    }
    assert_eq!(cache.usage(), 0, "a no-fill scan leaves the cache alone");
    assert!(get(&t, &entries[10].0).unwrap().is_some());
    let usage = cache.usage();
    assert!(usage > 0);
    let hits = cache.hits();
    assert!(get(&t, &entries[10].0).unwrap().is_some());
    assert_eq!(cache.hits(), hits + 1);
    // A second table in the same cache does not collide with the first.
    let path2 = PathBuf::from("/c2.sst");
    let other = gen_entries(&mut Rng::new(6), 2000);
    build(&fs, &path2, &other, TableBuilderOptions { block_size: 512, ..Default::default() });
    let t2 = open(&fs, &path2, Some(cache.clone())).unwrap();
    for e in other.iter().step_by(7) {
        assert_eq!(get(&t2, &e.0).unwrap().as_ref(), Some(e));
    }
    for e in entries.iter().step_by(7) {
        assert_eq!(get(&t, &e.0).unwrap().as_ref(), Some(e));
    }
}

#[test]
fn approximate_offsets_ascend() {
    let mut rng = Rng::new(9);
    let entries = gen_entries(&mut rng, 3000);
    let fs = MemFs::new();
    let path = PathBuf::from("/a.sst");
    let s = build(&fs, &path, &entries, TableBuilderOptions { compression: Compression::None, ..Default::default() });
    let t = open(&fs, &path, None).unwrap();
    let mut last = 0;
    for e in entries.iter().step_by(50) {
        let off = t.approximate_offset_of(&e.0);
        assert!(off >= last && off < s.file_size);
        last = off;
    }
    let end = t.approximate_offset_of(&make_internal_key(b"zzzz", 0, ValueKind::Value));
    assert_eq!(end, t.properties().data_size);
    assert!(end > s.file_size / 2);
}

#[test]
fn inspection_lists_every_block() {
    let mut rng = Rng::new(11);
    let entries = gen_entries(&mut rng, 1000);
    let fs = MemFs::new();
    let path = PathBuf::from("/i.sst");
    let s = build(&fs, &path, &entries, TableBuilderOptions { block_size: 1024, ..Default::default() });
    let t = open(&fs, &path, None).unwrap();
    let names: Vec<&str> = t.metaindex().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [FILTER_BLOCK_NAME, PROPERTIES_BLOCK_NAME]);
    let blocks = t.blocks().unwrap();
    let data: Vec<_> = blocks.iter().filter(|b| b.kind == BlockKind::Data).collect();
    assert_eq!(data.len() as u64, s.properties.num_data_blocks);
    assert!(blocks.iter().all(|b| b.checksum_ok()));
    assert!(data.iter().any(|b| b.compression_type == 1), "compressible values give lz4 blocks");
    // Blocks tile the file exactly up to the footer.
    let mut at = 0;
    for b in &blocks {
        assert_eq!(b.handle.offset, at);
        at = b.handle.end().unwrap();
    }
    assert_eq!(at + 56, s.file_size);
    assert_eq!(t.footer().index, blocks.iter().find(|b| b.kind == BlockKind::Index).unwrap().handle);
    assert_eq!(t.index_entries().unwrap().len(), data.len());

    // A flipped byte in data block 3 shows as a checksum mismatch there, and errors name it.
    let victim = data[3].handle;
    fs.corrupt(&path, |b| b[victim.offset as usize + 2] ^= 0x40).unwrap();
    let t = open(&fs, &path, None).unwrap();
    let bad: Vec<_> = t.blocks().unwrap().into_iter().filter(|b| !b.checksum_ok()).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].handle, victim);
    match t.verify().unwrap_err() {
        Error::ChecksumMismatch { file, offset, .. } => {
            assert_eq!(file, path);
            assert_eq!(offset, Some(victim.offset));
        }
        e => panic!("{e:?}"),
    }
    let mut it = t.iter(TableReadOptions::default());
    let mut r = it.seek_to_first();
    while r.is_ok() && it.valid() {
        r = it.next();
    }
    let e = r.unwrap_err();
    assert!(e.to_string().contains("/i.sst") && e.to_string().contains(&format!("offset {}", victim.offset)), "{e}");
    assert!(it.status().is_err() && !it.valid());
    assert!(it.seek_to_first().is_err(), "errors stick");
}

/// Scans, looks up every key and verifies; returns the first error. Never returns wrong data.
fn exercise(t: &Arc<Table>, entries: &Entries) -> crate::Result<()> {
    let mut it = t.iter(TableReadOptions::default());
    it.seek_to_first()?;
    for e in entries {
        assert!(it.valid(), "scan ended early without an error");
        assert_eq!((it.key(), it.value()), (&e.0[..], &e.1[..]), "wrong data from a scan");
        it.next()?;
    }
    assert!(!it.valid(), "scan returned extra entries");
    it.seek_to_last()?;
    for e in entries.iter().rev() {
        assert_eq!((it.key(), it.value()), (&e.0[..], &e.1[..]), "wrong data from a reverse scan");
        it.prev()?;
    }
    for e in entries {
        // A damaged filter may only drop keys with an error, never silently: with every
        // block checksummed, a damaged filter cannot even be opened.
        assert_eq!(get(t, &e.0)?.as_ref(), Some(e), "wrong data from get");
    }
    t.verify().map(drop)
}

fn small_table(fs: &MemFs, path: &Path) -> Entries {
    let mut rng = Rng::new(77);
    let mut entries = gen_entries(&mut rng, 150);
    for e in &mut entries {
        e.1.truncate(30);
    }
    build(fs, path, &entries, TableBuilderOptions { block_size: 300, restart_interval: 4, ..Default::default() });
    entries
}

#[test]
fn every_flipped_byte_is_detected() {
    let fs = MemFs::new();
    let path = PathBuf::from("/db/000042.sst");
    let entries = small_table(&fs, &path);
    let good = read_all(&fs, &path).unwrap();
    exercise(&open(&fs, &path, None).unwrap(), &entries).unwrap();
    for i in 0..good.len() {
        fs.corrupt(&path, |b| b[i] ^= 0x20).unwrap();
        let cache = Arc::new(BlockCache::new(1 << 20));
        let r = open(&fs, &path, Some(cache)).and_then(|t| exercise(&t, &entries));
        let e = r.expect_err(&format!("flip at byte {i} went unnoticed"));
        assert!(e.is_corruption(), "byte {i}: {e}");
        assert!(e.to_string().contains("000042.sst"), "byte {i}: {e}");
        fs.corrupt(&path, |b| b[i] ^= 0x20).unwrap();
    }
}

#[test]
fn every_truncation_is_an_error() {
    let fs = MemFs::new();
    let path = PathBuf::from("/t.sst");
    small_table(&fs, &path);
    let good = read_all(&fs, &path).unwrap();
    for n in 0..good.len() {
        fs.corrupt(&path, |b| b.truncate(n)).unwrap();
        let e = open(&fs, &path, None).unwrap_err();
        assert!(e.is_corruption(), "length {n}: {e}");
        fs.corrupt(&path, |b| *b = good.clone()).unwrap();
    }
}

#[test]
fn read_faults_are_io_errors() {
    let fs = MemFs::new();
    let path = PathBuf::from("/f.sst");
    let entries = small_table(&fs, &path);
    let t = open(&fs, &path, None).unwrap();
    fs.inject(FaultOp::Read, None, 0);
    assert!(open(&fs, &path, None).unwrap_err().is_io());
    assert!(get(&t, &entries[0].0).unwrap_err().is_io());
    let mut it = t.iter(TableReadOptions::default());
    assert!(it.seek_to_first().unwrap_err().is_io());
    fs.clear_faults();
    assert!(it.seek_to_first().is_err(), "errors stick");
    let mut it = t.iter(TableReadOptions::default());
    it.seek_to_first().unwrap();
    assert!(it.valid());
}

#[test]
fn iterator_and_table_are_send_sync_static() {
    fn send_static<T: Send + 'static>() {}
    fn send_sync<T: Send + Sync>() {}
    send_static::<crate::sstable::TableIterator>();
    send_sync::<Table>();
}

/// Writes a table whose data blocks are given explicitly (possibly empty), with index keys
/// chosen by the caller; for testing the reader against layouts our builder never makes.
fn build_raw(fs: &MemFs, path: &Path, blocks: &[(Entries, Vec<u8>)]) {
    let mut out = Vec::new();
    let mut index = BlockBuilder::new(1);
    let put_block = |out: &mut Vec<u8>, raw: &[u8]| {
        let h = BlockHandle { offset: out.len() as u64, size: raw.len() as u64 };
        out.extend_from_slice(raw);
        out.extend_from_slice(&block_trailer(raw, 0));
        h
    };
    let mut num = 0;
    for (entries, sep) in blocks {
        let mut b = BlockBuilder::new(2);
        for (k, v) in entries {
            b.add(k, v);
            num += 1;
        }
        let h = put_block(&mut out, b.finish());
        let mut hv = Vec::new();
        h.encode_to(&mut hv);
        index.add(sep, &hv);
    }
    let data_size = out.len() as u64;
    let ih = put_block(&mut out, index.finish());
    let all: Vec<&Vec<u8>> = blocks.iter().flat_map(|(e, _)| e.iter().map(|(k, _)| k)).collect();
    let props = Properties {
        format_version: FORMAT_VERSION,
        num_entries: num,
        data_size,
        num_data_blocks: blocks.len() as u64,
        raw_key_size: all.iter().map(|k| k.len() as u64).sum(),
        raw_value_size: blocks.iter().flat_map(|(e, _)| e.iter().map(|(_, v)| v.len() as u64)).sum(),
        smallest_key: all.first().map(|k| k.to_vec()).unwrap_or_default(),
        largest_key: all.last().map(|k| k.to_vec()).unwrap_or_default(),
        ..Default::default()
    };
    let mut pv = Vec::new();
    props.encode_to(&mut pv);
    let ph = put_block(&mut out, &pv);
    let mut meta = BlockBuilder::new(1);
    let mut hv = Vec::new();
    ph.encode_to(&mut hv);
    meta.add(PROPERTIES_BLOCK_NAME.as_bytes(), &hv);
    let mh = put_block(&mut out, meta.finish());
    Footer { metaindex: mh, index: ih, format_version: FORMAT_VERSION }.encode_to(&mut out);
    let mut f = create(fs, path);
    f.append(&out).unwrap();
    f.sync().unwrap();
}

#[test]
fn empty_blocks_are_skipped_both_ways() {
    let ik = |k: &str, seq, kind| make_internal_key(k.as_bytes(), seq, kind);
    let entries_of = |r: std::ops::Range<u32>| -> Entries {
        r.map(|i| (ik(&format!("k{i:04}"), 5, ValueKind::Value), format!("v{i}").into_bytes())).collect()
    };
    let last_of = |r: u32| format!("k{r:04}");
    let blocks = vec![
        (Vec::new(), ik("", 0, ValueKind::Value)),
        (Vec::new(), ik("", 0, ValueKind::Deletion)),
        (entries_of(0..10), ik(&last_of(9), 5, ValueKind::Value)),
        (Vec::new(), ik(&last_of(9), 0, ValueKind::Value)),
        (Vec::new(), ik(&last_of(9), 0, ValueKind::Deletion)),
        (entries_of(10..11), ik(&last_of(10), 5, ValueKind::Value)),
        (entries_of(11..30), ik(&last_of(29), 5, ValueKind::Value)),
        (Vec::new(), ik("zzz", 0, ValueKind::Value)),
    ];
    let all: Entries = blocks.iter().flat_map(|(e, _)| e.clone()).collect();
    let fs = MemFs::new();
    let path = PathBuf::from("/raw.sst");
    build_raw(&fs, &path, &blocks);
    let t = open(&fs, &path, None).unwrap();
    let mut it = t.iter(TableReadOptions::default());
    check_iterator_against_model(&mut it, &all, &mut Rng::new(1), 3000);
    for e in &all {
        assert_eq!(get(&t, &e.0).unwrap().as_ref(), Some(e));
    }
    assert!(t.verify().unwrap_err().to_string().contains("empty data block"));
}

#[test]
fn verify_checks_properties_against_data() {
    let ik = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
    let e1: Entries = vec![(ik("a"), b"1".to_vec()), (ik("c"), b"2".to_vec())];
    let fs = MemFs::new();
    let path = PathBuf::from("/props.sst");
    build_raw(&fs, &path, &[(e1.clone(), ik("c"))]);
    let r = open(&fs, &path, None).unwrap().verify().unwrap();
    assert_eq!((r.entries, r.data_blocks, r.filter_checked), (2, 1, false));
    // Same data, but the properties are rewritten to claim another entry count.
    let bytes = read_all(&fs, &path).unwrap();
    let t = open(&fs, &path, None).unwrap();
    let ph = t.metaindex()[0].1;
    let mut props = t.properties().clone();
    props.num_entries = 3;
    let mut pv = Vec::new();
    props.encode_to(&mut pv);
    assert_eq!(pv.len() as u64, ph.size, "same-length rewrite");
    let mut out = bytes[..ph.offset as usize].to_vec();
    out.extend_from_slice(&pv);
    out.extend_from_slice(&block_trailer(&pv, 0));
    out.extend_from_slice(&bytes[ph.end().unwrap() as usize..]);
    fs.corrupt(&path, |b| *b = out).unwrap();
    let e = open(&fs, &path, None).unwrap().verify().unwrap_err();
    assert!(
        e.to_string().contains("properties claim") && e.to_string().contains(&format!("offset {}", ph.offset)),
        "{e}"
    );
}

#[test]
fn verify_catches_bad_index_separator() {
    let ik = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
    let e1: Entries = vec![(ik("a"), b"1".to_vec()), (ik("c"), b"2".to_vec())];
    let e2: Entries = vec![(ik("d"), b"3".to_vec())];
    let fs = MemFs::new();
    let path = PathBuf::from("/sep.sst");
    // The first separator is below its block's last key.
    build_raw(&fs, &path, &[(e1.clone(), ik("b")), (e2.clone(), ik("d"))]);
    let t = open(&fs, &path, None).unwrap();
    let e = t.verify().unwrap_err();
    assert!(e.to_string().contains("below the block's last key") && e.to_string().contains("offset 0"), "{e}");
    // The first separator is not below the next block's first key.
    build_raw(&fs, &path, &[(e1.clone(), ik("e")), (e2.clone(), ik("f"))]);
    let e = open(&fs, &path, None).unwrap().verify().unwrap_err();
    assert!(e.to_string().contains("first key"), "{e}");
    // Keys out of order across blocks.
    build_raw(&fs, &path, &[(e2, ik("d")), (e1, ik("e"))]);
    let e = open(&fs, &path, None).unwrap().verify().unwrap_err();
    assert!(e.is_corruption(), "{e}");
}

#[test]
fn malformed_index_value_names_the_index_block() {
    let ik = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
    let fs = MemFs::new();
    let path = PathBuf::from("/idx.sst");
    build_raw(&fs, &path, &[(vec![(ik("a"), b"1".to_vec())], ik("a"))]);
    let t = open(&fs, &path, None).unwrap();
    let ih = t.footer().index;
    // The index block holds one entry: header (3 bytes), key (9 bytes), handle value.
    let mut bytes = read_all(&fs, &path).unwrap();
    let start = ih.offset as usize;
    let value_at = start + 3 + 9;
    bytes[value_at] = 0xff;
    bytes[value_at + 1] = 0xff;
    let contents = bytes[start..start + ih.size as usize].to_vec();
    let trailer = block_trailer(&contents, 0);
    bytes[start + ih.size as usize..start + ih.size as usize + 5].copy_from_slice(&trailer);
    fs.corrupt(&path, |b| *b = bytes).unwrap();
    let e = open(&fs, &path, None).unwrap_err();
    assert!(e.to_string().contains(&format!("at offset {}: malformed block handle", ih.offset)), "{e}");
    let f = fs.open_random(&path).unwrap();
    let size = f.size();
    let t = Table::open(f, path.clone(), size, None, false).unwrap();
    let e = get(&t, &ik("a")).unwrap_err();
    assert!(e.to_string().contains(&format!("at offset {}", ih.offset)), "{e}");
    let mut it = t.iter(TableReadOptions::default());
    assert!(it.seek_to_first().unwrap_err().is_corruption());
}
