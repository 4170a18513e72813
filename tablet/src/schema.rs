//! What a tablet knows of its table's schema: the column families and their GC rules.
//!
//! The master owns the schema and hands it to tablet servers with each tablet (later
//! steps); here it is a plain value plus [`SharedSchema`], the handle through which a
//! tablet and its compaction filter see the same, replaceable, copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::gc::GcRule;
use crate::proto::bt::internal::v1::FamilySchema;

/// Longest family name Bigtable accepts.
pub const MAX_FAMILY_NAME_LEN: usize = 64;

/// The column families of a table, each with an optional GC rule (`None`: keep every
/// version forever).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    families: BTreeMap<String, Option<GcRule>>,
}

/// Checks a family name against Bigtable's rule: 1 to 64 characters of `[-_.a-zA-Z0-9]`.
pub fn validate_family_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_FAMILY_NAME_LEN {
        return Err(Error::invalid(format!("family name {name:?} must be 1 to {MAX_FAMILY_NAME_LEN} characters long")));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(Error::invalid(format!("family name {name:?} contains {c:?}; allowed: [-_.a-zA-Z0-9]")));
    }
    Ok(())
}

impl Schema {
    /// A schema with no families.
    pub fn new() -> Self {
        Schema::default()
    }

    /// This schema plus family `name` with `rule` (replacing an existing family's rule).
    pub fn with_family(mut self, name: &str, rule: Option<GcRule>) -> Result<Self> {
        validate_family_name(name)?;
        self.families.insert(name.to_string(), rule);
        Ok(self)
    }

    /// The schema the internal protocol's family list describes.
    pub fn from_proto(families: &[FamilySchema]) -> Result<Self> {
        let mut s = Schema::new();
        for f in families {
            let rule = match &f.gc_rule {
                Some(r) => GcRule::from_proto(r).map_err(|e| Error::invalid(format!("family {:?}: {e}", f.name)))?,
                None => None,
            };
            s = s.with_family(&f.name, rule)?;
        }
        Ok(s)
    }

    /// True when the table has family `name`.
    pub fn has_family(&self, name: &str) -> bool {
        self.families.contains_key(name)
    }

    /// Family `name`'s GC rule; `None` when it has none or does not exist.
    pub fn gc_rule(&self, name: &str) -> Option<&GcRule> {
        self.families.get(name).and_then(Option::as_ref)
    }

    /// The families in name order, with their rules.
    pub fn families(&self) -> impl Iterator<Item = (&str, Option<&GcRule>)> {
        self.families.iter().map(|(n, r)| (n.as_str(), r.as_ref()))
    }

    /// True when some family has a GC rule (so a compaction filter has work to do).
    pub fn has_gc_rules(&self) -> bool {
        self.families.values().any(Option::is_some)
    }
}

/// A schema shared by a tablet's readers, writers and compaction filters and replaced as a
/// whole. Cloning the handle shares the schema. Readers take an `Arc` snapshot and never
/// hold the lock while they work (a `parking_lot` lock: the critical sections are a
/// pointer copy, so no reader can starve a replacement for long).
#[derive(Debug, Clone, Default)]
pub struct SharedSchema(Arc<RwLock<Arc<Schema>>>);

impl SharedSchema {
    /// A handle holding `schema`.
    pub fn new(schema: Schema) -> Self {
        SharedSchema(Arc::new(RwLock::new(Arc::new(schema))))
    }

    /// The current schema.
    pub fn get(&self) -> Arc<Schema> {
        self.0.read().clone()
    }

    /// Replaces the schema; calls that already took a snapshot keep using theirs.
    pub fn set(&self, schema: Schema) {
        *self.0.write() = Arc::new(schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bt::internal::v1::{gc_rule::Rule, GcRule as PGcRule};

    #[test]
    fn family_names_follow_bigtable_rules() {
        for ok in ["cf", "a-b_c.d", "X9", &"x".repeat(64)] {
            validate_family_name(ok).unwrap();
        }
        for bad in ["", "a:b", "a b", "é", &"x".repeat(65)] {
            assert!(matches!(validate_family_name(bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
    }

    #[test]
    fn schema_from_proto_and_shared_replacement() {
        let fams = vec![
            FamilySchema { name: "a".into(), gc_rule: None },
            FamilySchema { name: "b".into(), gc_rule: Some(PGcRule { rule: Some(Rule::MaxNumVersions(2)) }) },
        ];
        let s = Schema::from_proto(&fams).unwrap();
        assert!(s.has_family("a") && s.has_family("b") && !s.has_family("c"));
        assert_eq!(s.gc_rule("a"), None);
        assert_eq!(s.gc_rule("b"), Some(&GcRule::MaxNumVersions(2)));
        assert!(s.has_gc_rules());
        let bad =
            vec![FamilySchema { name: "b".into(), gc_rule: Some(PGcRule { rule: Some(Rule::MaxNumVersions(0)) }) }];
        let err = Schema::from_proto(&bad).unwrap_err().to_string();
        assert!(err.contains("family \"b\"") && err.contains("max_num_versions"), "{err}");

        let shared = SharedSchema::new(s.clone());
        let before = shared.get();
        shared.set(Schema::new());
        assert_eq!(*before, s);
        assert!(!shared.get().has_family("a"));
    }
}
