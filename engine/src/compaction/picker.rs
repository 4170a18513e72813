//! Choosing the next compaction: a pure function of a version and of what is already being
//! compacted, so it can be tested without I/O.
//!
//! Scores: level 0 scores `files / l0_compaction_trigger`; level n >= 1 scores
//! `bytes / target(n)` with `target(1) = level1_max_bytes` and `target(n+1) = fanout *
//! target(n)`. The level with the highest score >= 1 whose inputs are not busy is compacted
//! into the next one. Level 0 takes all its (non-busy) files; level n >= 1 takes one file,
//! round-robin after the level's compact pointer. When the inputs overlap nothing in the next
//! level and do not overlap each other, the compaction is a *trivial move*: the files change
//! level in the MANIFEST without being rewritten.

use std::collections::HashSet;
use std::sync::Arc;

use crate::keys::{compare_internal, user_key};
use crate::version::edit::NUM_LEVELS;
use crate::version::{FileMeta, Version};

/// The knobs the picker reads.
#[derive(Debug, Clone, Copy)]
pub struct PickerOptions {
    /// Level-0 file count that triggers a compaction.
    pub l0_compaction_trigger: usize,
    /// Size target of level 1.
    pub level1_max_bytes: u64,
    /// Growth between levels.
    pub level_fanout: u64,
    /// Target output file size (bounds grandparent overlap of trivial moves).
    pub target_file_size: u64,
}

/// A chosen compaction.
#[derive(Debug, Clone)]
pub struct CompactionPlan {
    /// The level compacted.
    pub level: usize,
    /// Input files of `level`.
    pub inputs: Vec<Arc<FileMeta>>,
    /// Input files of the output level (when it is `level + 1`).
    pub next_inputs: Vec<Arc<FileMeta>>,
    /// Where the outputs go: `level + 1`, or `level` itself for an in-place rewrite of the
    /// bottommost level (see [`plan_in_place`]).
    pub output_level: usize,
    /// Files of `level + 2` overlapping the output (outputs are cut to limit overlap).
    pub grandparents: Vec<Arc<FileMeta>>,
    /// Move the inputs down without rewriting them.
    pub trivial_move: bool,
    /// The score that chose it (0 for manual compactions).
    pub score: f64,
}

impl CompactionPlan {
    /// Every input file.
    pub fn all_inputs(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.inputs.iter().chain(&self.next_inputs)
    }
    /// Total input bytes.
    pub fn input_bytes(&self) -> u64 {
        self.all_inputs().map(|f| f.size).sum()
    }
}

/// Size target of `level` (level >= 1).
pub fn level_target(opts: &PickerOptions, level: usize) -> u64 {
    let mut t = opts.level1_max_bytes;
    for _ in 1..level {
        t = t.saturating_mul(opts.level_fanout);
    }
    t
}

/// Score of each level (the last level never compacts further and scores 0).
pub fn scores(v: &Version, opts: &PickerOptions) -> [f64; NUM_LEVELS] {
    let mut s = [0.0; NUM_LEVELS];
    for (level, score) in s.iter_mut().enumerate().take(NUM_LEVELS - 1) {
        *score = if level == 0 {
            v.num_files(0) as f64 / opts.l0_compaction_trigger.max(1) as f64
        } else {
            v.level_bytes(level) as f64 / level_target(opts, level) as f64
        };
    }
    s
}

/// The next compaction to run, if any level needs one and its inputs are free.
pub fn pick(
    v: &Version,
    opts: &PickerOptions,
    busy: &HashSet<u64>,
    compact_pointers: &[Vec<u8>; NUM_LEVELS],
) -> Option<CompactionPlan> {
    let s = scores(v, opts);
    let mut order: Vec<usize> = (0..NUM_LEVELS - 1).filter(|&l| s[l] >= 1.0).collect();
    order.sort_by(|a, b| s[*b].total_cmp(&s[*a]));
    for level in order {
        let inputs: Vec<Arc<FileMeta>> = if level == 0 {
            if v.files[0].iter().any(|f| busy.contains(&f.number)) {
                continue;
            }
            v.files[0].clone()
        } else {
            let files = &v.files[level];
            let ptr = &compact_pointers[level];
            let start = if ptr.is_empty() {
                0
            } else {
                files.partition_point(|f| compare_internal(&f.largest, ptr) != std::cmp::Ordering::Greater)
            };
            let candidate = files
                .iter()
                .cycle()
                .skip(start % files.len().max(1))
                .take(files.len())
                .find(|f| !busy.contains(&f.number));
            match candidate {
                Some(f) => vec![f.clone()],
                None => continue,
            }
        };
        if let Some(mut plan) = plan_for_inputs(v, opts, level, inputs, busy) {
            plan.score = s[level];
            return Some(plan);
        }
    }
    None
}

/// A plan compacting `inputs` of `level` into `level + 1`; `None` if a needed file is busy
/// or `level` is the last.
pub fn plan_for_inputs(
    v: &Version,
    opts: &PickerOptions,
    level: usize,
    inputs: Vec<Arc<FileMeta>>,
    busy: &HashSet<u64>,
) -> Option<CompactionPlan> {
    if inputs.is_empty() || level + 1 >= NUM_LEVELS {
        return None;
    }
    let (lo, hi) = key_range(&inputs)?;
    let next_inputs = v.overlapping(level + 1, Some(&lo), Some(&hi));
    if next_inputs.iter().any(|f| busy.contains(&f.number)) {
        return None;
    }
    let grandparents = if level + 2 < NUM_LEVELS { v.overlapping(level + 2, Some(&lo), Some(&hi)) } else { Vec::new() };
    let gp_bytes: u64 = grandparents.iter().map(|f| f.size).sum();
    let trivial_move = next_inputs.is_empty()
        && disjoint(&inputs)
        && gp_bytes <= opts.target_file_size.saturating_mul(10)
        && (level > 0 || inputs.len() <= 64);
    Some(CompactionPlan { level, inputs, next_inputs, output_level: level + 1, grandparents, trivial_move, score: 0.0 })
}

/// A plan rewriting `inputs` of `level` into `level` itself: used by manual compactions to
/// put the deepest level holding a range through the compaction filter and drop its
/// tombstones (RocksDB's bottommost-level compaction). The outputs cover no more than the
/// inputs' key range, so the level stays disjoint.
pub fn plan_in_place(v: &Version, level: usize, inputs: Vec<Arc<FileMeta>>) -> Option<CompactionPlan> {
    if inputs.is_empty() || level == 0 {
        return None;
    }
    let (lo, hi) = key_range(&inputs)?;
    let grandparents = if level + 1 < NUM_LEVELS { v.overlapping(level + 1, Some(&lo), Some(&hi)) } else { Vec::new() };
    Some(CompactionPlan {
        level,
        inputs,
        next_inputs: Vec::new(),
        output_level: level,
        grandparents,
        trivial_move: false,
        score: 0.0,
    })
}

/// The user-key range covered by `files`.
pub fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = files.iter().map(|f| f.smallest_user()).min()?;
    let hi = files.iter().map(|f| f.largest_user()).max()?;
    Some((lo.to_vec(), hi.to_vec()))
}

fn disjoint(files: &[Arc<FileMeta>]) -> bool {
    let mut sorted: Vec<&Arc<FileMeta>> = files.iter().collect();
    sorted.sort_by(|a, b| compare_internal(&a.smallest, &b.smallest));
    sorted.windows(2).all(|w| match w {
        [a, b] => user_key(&a.largest) < user_key(&b.smallest),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{make_internal_key, ValueKind};

    fn file(number: u64, lo: &str, hi: &str, size: u64) -> Arc<FileMeta> {
        Arc::new(FileMeta {
            number,
            size,
            smallest: make_internal_key(lo.as_bytes(), number * 10, ValueKind::Value),
            largest: make_internal_key(hi.as_bytes(), number * 10 + 1, ValueKind::Value),
            smallest_seq: number * 10,
            largest_seq: number * 10 + 1,
        })
    }

    fn opts() -> PickerOptions {
        PickerOptions { l0_compaction_trigger: 4, level1_max_bytes: 1000, level_fanout: 10, target_file_size: 100 }
    }

    #[test]
    fn nothing_to_do_below_triggers() {
        let mut v = Version::default();
        v.files[0] = vec![file(3, "a", "z", 10), file(2, "a", "z", 10)];
        v.files[1] = vec![file(1, "a", "b", 999)];
        assert!(pick(&v, &opts(), &HashSet::new(), &Default::default()).is_none());
    }

    #[test]
    fn level0_takes_all_files_and_overlapping_level1() {
        let mut v = Version::default();
        v.files[0] = (10..14).rev().map(|n| file(n, "c", "f", 10)).collect();
        v.files[1] = vec![file(1, "a", "b", 10), file(2, "d", "e", 10), file(3, "x", "y", 10)];
        let p = pick(&v, &opts(), &HashSet::new(), &Default::default()).unwrap();
        assert_eq!(p.level, 0);
        assert_eq!(p.inputs.len(), 4);
        assert_eq!(p.next_inputs.iter().map(|f| f.number).collect::<Vec<_>>(), vec![2]);
        assert!(!p.trivial_move);
        // A busy level-0 file blocks level-0 compaction.
        let busy: HashSet<u64> = [11].into_iter().collect();
        assert!(pick(&v, &opts(), &busy, &Default::default()).is_none());
        // A busy overlapping level-1 file too.
        let busy: HashSet<u64> = [2].into_iter().collect();
        assert!(pick(&v, &opts(), &busy, &Default::default()).is_none());
    }

    #[test]
    fn disjoint_level0_without_overlap_is_a_trivial_move() {
        let mut v = Version::default();
        v.files[0] =
            vec![file(13, "g", "h", 10), file(12, "e", "f", 10), file(11, "c", "d", 10), file(10, "a", "b", 10)];
        v.files[1] = vec![file(1, "x", "y", 10)];
        let p = pick(&v, &opts(), &HashSet::new(), &Default::default()).unwrap();
        assert!(p.trivial_move);
    }

    #[test]
    fn sized_level_round_robins_after_pointer_and_picks_highest_score() {
        let mut v = Version::default();
        v.files[1] = vec![file(1, "a", "b", 600), file(2, "c", "d", 600), file(3, "e", "f", 600)];
        v.files[2] = vec![file(4, "c", "c", 10)];
        let p = pick(&v, &opts(), &HashSet::new(), &Default::default()).unwrap();
        assert_eq!((p.level, p.inputs[0].number), (1, 1));
        assert!(p.trivial_move, "no overlap in level 2");
        let mut ptrs: [Vec<u8>; NUM_LEVELS] = Default::default();
        ptrs[1] = v.files[1][0].largest.clone();
        let p = pick(&v, &opts(), &HashSet::new(), &ptrs).unwrap();
        assert_eq!(p.inputs[0].number, 2);
        assert_eq!(p.next_inputs[0].number, 4);
        assert!(!p.trivial_move);
        ptrs[1] = v.files[1][2].largest.clone();
        let p = pick(&v, &opts(), &HashSet::new(), &ptrs).unwrap();
        assert_eq!(p.inputs[0].number, 1, "wraps around");
        // Level 0 over trigger but level 1 scores higher.
        v.files[0] = (10..14).map(|n| file(n, "a", "z", 1)).collect();
        let s = scores(&v, &opts());
        assert!(s[1] > s[0]);
        assert_eq!(pick(&v, &opts(), &HashSet::new(), &Default::default()).unwrap().level, 1);
    }

    #[test]
    fn in_place_plan_rewrites_a_level_into_itself() {
        let mut v = Version::default();
        v.files[6] = vec![file(1, "a", "c", 10), file(2, "d", "f", 10)];
        let p = plan_in_place(&v, 6, vec![v.files[6][1].clone()]).unwrap();
        assert_eq!((p.level, p.output_level), (6, 6));
        assert!(p.next_inputs.is_empty() && p.grandparents.is_empty() && !p.trivial_move);
        assert!(plan_in_place(&v, 0, vec![file(3, "a", "b", 1)]).is_none(), "level 0 is never rewritten in place");
    }

    #[test]
    fn targets_grow_by_fanout() {
        assert_eq!(level_target(&opts(), 1), 1000);
        assert_eq!(level_target(&opts(), 3), 100_000);
    }
}
