//! The version set: the current version, the MANIFEST that makes it durable, and the
//! counters (file numbers, log number, last sequence) recorded with it.
//!
//! # Durability order of `log_and_apply`
//! 1. The caller has synced every new table file and the directory holding it.
//! 2. The edit is appended to the MANIFEST and the MANIFEST is fsync'd.
//! 3. Only then does the new version become current (and old files become deletable).
//!
//! When there is no MANIFEST writer yet (open) or the current one passed its size limit, a
//! new MANIFEST is written holding a snapshot of the whole version, fsync'd, and `CURRENT`
//! is switched to it atomically (write temp, fsync, rename, fsync dir).
//!
//! Thread safety: a `VersionSet` is owned by the database behind a mutex; callers serialise.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::edit::{NewFile, VersionEdit, NUM_LEVELS};
use super::{FileMeta, Version};
use crate::error::{Error, Result};
use crate::filename::{current_file, manifest_file, manifest_name};
use crate::fs::{write_atomically, Fs};
use crate::keys::{compare_internal, SequenceNumber};
use crate::wal;

/// The current version and the MANIFEST. See the module docs.
pub struct VersionSet {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    current: Arc<Version>,
    /// Every version handed out that may still be alive (pruned as they die).
    handed_out: Vec<Weak<Version>>,
    manifest: Option<wal::Writer>,
    manifest_number: u64,
    max_manifest_size: u64,
    /// Next file number to hand out; shared with the write path, which takes WAL numbers
    /// without this set's lock. Relaxed: only uniqueness matters, and the value written to a
    /// MANIFEST is read under this set's lock after every number it must exceed was taken.
    next_file: Arc<AtomicU64>,
    /// WALs numbered below this are obsolete.
    pub log_number: u64,
    /// Last sequence number recorded in the MANIFEST.
    pub last_sequence: SequenceNumber,
    /// Per level, the key after which the next size compaction starts.
    pub compact_pointers: [Vec<u8>; NUM_LEVELS],
}

impl VersionSet {
    /// A version set for a brand-new database (nothing written yet; the first
    /// `log_and_apply` writes MANIFEST and CURRENT).
    pub fn new_empty(fs: Arc<dyn Fs>, dir: &Path, max_manifest_size: u64) -> Self {
        VersionSet {
            fs,
            dir: dir.to_path_buf(),
            current: Arc::new(Version::default()),
            handed_out: Vec::new(),
            manifest: None,
            manifest_number: 0,
            max_manifest_size,
            next_file: Arc::new(AtomicU64::new(1)),
            log_number: 0,
            last_sequence: 0,
            compact_pointers: Default::default(),
        }
    }

    /// Loads the version named by `CURRENT`. Missing or malformed CURRENT, a missing
    /// MANIFEST or a corrupt edit are errors naming the file (and offset).
    pub fn recover(fs: Arc<dyn Fs>, dir: &Path, max_manifest_size: u64) -> Result<Self> {
        let current_path = current_file(dir);
        let current = crate::fs::read_all(fs.as_ref(), &current_path)?;
        let name = std::str::from_utf8(&current)
            .ok()
            .and_then(|s| s.strip_suffix('\n'))
            .filter(|s| matches!(crate::filename::parse_file_name(s), Some(crate::filename::FileKind::Manifest(_))))
            .ok_or_else(|| Error::corruption(&current_path, Some(0), "CURRENT does not name a MANIFEST"))?
            .to_string();
        let manifest_path = dir.join(&name);
        if !fs.exists(&manifest_path) {
            return Err(Error::corruption(&current_path, Some(0), format!("CURRENT names missing {name}")));
        }
        let mut vs = VersionSet::new_empty(fs.clone(), dir, max_manifest_size);
        let mut reader = wal::Reader::new(fs.open_sequential(&manifest_path)?, manifest_path.clone(), true);
        let mut builder = Builder::new(&vs.current);
        let (mut have_next, mut have_last, mut have_log) = (false, false, false);
        let mut next_file_number = 1;
        while let Some(rec) = reader.read_record()? {
            let edit = VersionEdit::decode(rec.data).map_err(|e| e.in_file(&manifest_path).at_offset(rec.offset))?;
            builder.apply(&edit, &mut vs.compact_pointers);
            if let Some(n) = edit.log_number {
                vs.log_number = n;
                have_log = true;
            }
            if let Some(n) = edit.next_file_number {
                next_file_number = n;
                have_next = true;
            }
            if let Some(s) = edit.last_sequence {
                if s > crate::keys::MAX_SEQUENCE {
                    return Err(Error::corruption(
                        &manifest_path,
                        Some(rec.offset),
                        format!("last sequence {s} is past the largest sequence number"),
                    ));
                }
                vs.last_sequence = s;
                have_last = true;
            }
        }
        if let Some(t) = reader.torn_tail() {
            // An interrupted append leaves a cut-off record, never acknowledged; a record
            // present in full but damaged is corruption (its edit may have been acted on).
            if !t.truncated {
                return Err(Error::corruption(
                    &manifest_path,
                    Some(t.offset),
                    format!("damaged last record: {}", t.reason),
                ));
            }
        }
        if !(have_next && have_last && have_log) {
            return Err(Error::corruption(
                &manifest_path,
                None,
                "MANIFEST lacks the log number, next file number or last sequence",
            ));
        }
        let mut version = builder.finish();
        version.compact_pointers = vs.compact_pointers.clone();
        check_version(&version).map_err(|r| Error::corruption(&manifest_path, None, r))?;
        // Every file number referenced must be below the next file number.
        let max_file = version.files.iter().flatten().map(|f| f.number).max().unwrap_or(0);
        vs.mark_file_number_used(next_file_number.saturating_sub(1).max(max_file).max(vs.log_number));
        vs.current = Arc::new(version);
        if let Some(crate::filename::FileKind::Manifest(n)) = crate::filename::parse_file_name(&name) {
            vs.manifest_number = n;
            vs.mark_file_number_used(n);
        }
        Ok(vs)
    }

    /// The current version, registered as live.
    pub fn current(&mut self) -> Arc<Version> {
        self.handed_out.retain(|w| w.strong_count() > 0);
        self.handed_out.push(Arc::downgrade(&self.current));
        self.current.clone()
    }

    /// The current version, without registering it (for checks at open).
    pub fn peek_current(&self) -> &Arc<Version> {
        &self.current
    }

    /// Takes a new file number.
    pub fn new_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::Relaxed)
    }

    /// The shared file-number counter (for the write path).
    pub fn file_number_counter(&self) -> Arc<AtomicU64> {
        self.next_file.clone()
    }

    /// Makes sure numbers up to `n` are never handed out (files found on disk).
    pub fn mark_file_number_used(&self, n: u64) {
        self.next_file.fetch_max(n + 1, Ordering::Relaxed);
    }

    /// The number of the MANIFEST in use.
    pub fn manifest_number(&self) -> u64 {
        self.manifest_number
    }

    /// Applies `edit` to the current version, makes it durable in the MANIFEST, and
    /// installs the result. On error nothing is installed and the next call starts a
    /// fresh MANIFEST.
    pub fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if let Some(n) = edit.log_number {
            debug_assert!(n >= self.log_number);
        } else {
            edit.log_number = Some(self.log_number);
        }
        if let Some(s) = edit.last_sequence {
            self.last_sequence = self.last_sequence.max(s);
        }
        edit.last_sequence = Some(self.last_sequence);
        let mut pointers = self.compact_pointers.clone();
        let mut builder = Builder::new(&self.current);
        builder.apply(&edit, &mut pointers);
        let mut version = builder.finish();
        version.generation = self.current.generation + 1;
        version.compact_pointers = pointers.clone();
        debug_assert!(check_version(&version).is_ok(), "{:?}", check_version(&version));

        let too_big = self.manifest.as_ref().is_some_and(|m| m.len() >= self.max_manifest_size);
        let result = if self.manifest.is_none() || too_big {
            self.write_new_manifest(&version, &pointers, &edit)
        } else {
            edit.next_file_number = Some(self.next_file.load(Ordering::Relaxed));
            let mut rec = Vec::new();
            edit.encode(&mut rec);
            match self.manifest.as_mut() {
                Some(m) => m.add_record(&rec).and_then(|()| m.sync()),
                None => Ok(()),
            }
        };
        if let Err(e) = result {
            self.manifest = None;
            return Err(e);
        }
        if let Some(n) = edit.log_number {
            self.log_number = n;
        }
        self.compact_pointers = pointers;
        self.current = Arc::new(version);
        Ok(self.current())
    }

    fn write_new_manifest(
        &mut self,
        version: &Version,
        pointers: &[Vec<u8>; NUM_LEVELS],
        edit: &VersionEdit,
    ) -> Result<()> {
        let number = self.new_file_number();
        let path = manifest_file(&self.dir, number);
        let mut snapshot = VersionEdit {
            log_number: edit.log_number,
            next_file_number: Some(self.next_file.load(Ordering::Relaxed)),
            last_sequence: Some(self.last_sequence),
            ..Default::default()
        };
        for (level, key) in pointers.iter().enumerate() {
            if !key.is_empty() {
                snapshot.compact_pointers.push((level, key.clone()));
            }
        }
        for (level, files) in version.files.iter().enumerate() {
            for f in files {
                snapshot.new_files.push(new_file(level, f));
            }
        }
        let mut rec = Vec::new();
        snapshot.encode(&mut rec);
        let mut writer = wal::Writer::new(self.fs.create(&path)?, path.clone());
        let written =
            writer.add_record(&rec).and_then(|()| writer.sync()).and_then(|()| self.fs.sync_dir(&self.dir)).and_then(
                |()| {
                    write_atomically(
                        self.fs.as_ref(),
                        &current_file(&self.dir),
                        format!("{}\n", manifest_name(number)).as_bytes(),
                    )
                },
            );
        if let Err(e) = written {
            drop(writer);
            // The new MANIFEST is not referenced by CURRENT (or CURRENT's switch failed and
            // the old one stays); removing it is cleanup only.
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        self.manifest = Some(writer);
        self.manifest_number = number;
        Ok(())
    }

    /// File numbers of tables used by any live version.
    pub fn live_tables(&mut self) -> HashSet<u64> {
        self.handed_out.retain(|w| w.strong_count() > 0);
        let mut live: HashSet<u64> = self.current.files.iter().flatten().map(|f| f.number).collect();
        for v in self.handed_out.iter().filter_map(Weak::upgrade) {
            live.extend(v.files.iter().flatten().map(|f| f.number));
        }
        live
    }
}

/// The version-edit record of a file.
pub fn new_file(level: usize, f: &FileMeta) -> NewFile {
    NewFile {
        level,
        number: f.number,
        size: f.size,
        smallest: f.smallest.clone(),
        largest: f.largest.clone(),
        smallest_seq: f.smallest_seq,
        largest_seq: f.largest_seq,
    }
}

/// Applies edits to a base version.
struct Builder {
    files: [Vec<Arc<FileMeta>>; NUM_LEVELS],
}

impl Builder {
    fn new(base: &Version) -> Self {
        Builder { files: base.files.clone() }
    }

    fn apply(&mut self, edit: &VersionEdit, pointers: &mut [Vec<u8>; NUM_LEVELS]) {
        for (level, key) in &edit.compact_pointers {
            if let Some(p) = pointers.get_mut(*level) {
                *p = key.clone();
            }
        }
        for (level, number) in &edit.deleted_files {
            if let Some(files) = self.files.get_mut(*level) {
                files.retain(|f| f.number != *number);
            }
        }
        for nf in &edit.new_files {
            if let Some(files) = self.files.get_mut(nf.level) {
                files.retain(|f| f.number != nf.number);
                files.push(Arc::new(FileMeta {
                    number: nf.number,
                    size: nf.size,
                    smallest: nf.smallest.clone(),
                    largest: nf.largest.clone(),
                    smallest_seq: nf.smallest_seq,
                    largest_seq: nf.largest_seq,
                }));
            }
        }
    }

    fn finish(mut self) -> Version {
        for (level, files) in self.files.iter_mut().enumerate() {
            if level == 0 {
                files.sort_by_key(|f| std::cmp::Reverse(f.number));
            } else {
                files.sort_by(|a, b| compare_internal(&a.smallest, &b.smallest));
            }
        }
        Version { files: self.files, generation: 0, compact_pointers: Default::default() }
    }
}

/// Checks the invariants of a version: levels 1+ sorted and disjoint, keys well formed.
pub fn check_version(v: &Version) -> std::result::Result<(), String> {
    for (level, files) in v.files.iter().enumerate() {
        for f in files {
            if compare_internal(&f.smallest, &f.largest) == std::cmp::Ordering::Greater {
                return Err(format!("file {} at level {level} has smallest > largest", f.number));
            }
        }
        if level == 0 {
            continue;
        }
        for pair in files.windows(2) {
            if let [a, b] = pair {
                if a.largest_user() >= b.smallest_user() {
                    return Err(format!("files {} and {} overlap at level {level}", a.number, b.number));
                }
            }
        }
    }
    Ok(())
}
