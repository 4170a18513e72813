//! Column families between the admin API and the master's records: conversion both ways
//! (the admin `GcRule` and our internal one have the same shape), validation, and
//! `ModifyColumnFamilies` applied to a family list.

use std::collections::BTreeMap;

use tablet::proto::admin::{
    self, gc_rule as agc, modify_column_families_request::modification::Mod,
    modify_column_families_request::Modification, ColumnFamily,
};
use tablet::proto::bt::internal::v1::{self as internal, gc_rule as igc, FamilySchema};

use crate::error::{Error, Result};

/// The internal copy of an admin GC rule.
pub fn gc_rule_to_internal(r: &admin::GcRule) -> internal::GcRule {
    let nested = |rules: &[admin::GcRule]| rules.iter().map(gc_rule_to_internal).collect();
    internal::GcRule {
        rule: r.rule.as_ref().map(|r| match r {
            agc::Rule::MaxNumVersions(n) => igc::Rule::MaxNumVersions(*n),
            agc::Rule::MaxAge(d) => igc::Rule::MaxAge(*d),
            agc::Rule::Intersection(i) => igc::Rule::Intersection(igc::Intersection { rules: nested(&i.rules) }),
            agc::Rule::Union(u) => igc::Rule::Union(igc::Union { rules: nested(&u.rules) }),
        }),
    }
}

/// The admin form of an internal GC rule.
pub fn gc_rule_to_admin(r: &internal::GcRule) -> admin::GcRule {
    let nested = |rules: &[internal::GcRule]| rules.iter().map(gc_rule_to_admin).collect();
    admin::GcRule {
        rule: r.rule.as_ref().map(|r| match r {
            igc::Rule::MaxNumVersions(n) => agc::Rule::MaxNumVersions(*n),
            igc::Rule::MaxAge(d) => agc::Rule::MaxAge(*d),
            igc::Rule::Intersection(i) => agc::Rule::Intersection(agc::Intersection { rules: nested(&i.rules) }),
            igc::Rule::Union(u) => agc::Rule::Union(agc::Union { rules: nested(&u.rules) }),
        }),
    }
}

/// Family `name` with the admin settings `cf`, validated (name rule, GC rule values).
pub fn family_from_admin(name: &str, cf: &ColumnFamily) -> Result<FamilySchema> {
    tablet::schema::validate_family_name(name).map_err(|e| Error::invalid(e.to_string()))?;
    let gc_rule = cf.gc_rule.as_ref().map(gc_rule_to_internal);
    if let Some(r) = &gc_rule {
        tablet::GcRule::from_proto(r).map_err(|e| Error::invalid(format!("column family {name:?}: {e}")))?;
    }
    Ok(FamilySchema { name: name.to_string(), gc_rule })
}

/// The admin map of column families.
pub fn families_to_admin(families: &[FamilySchema]) -> std::collections::HashMap<String, ColumnFamily> {
    families
        .iter()
        .map(|f| (f.name.clone(), ColumnFamily { gc_rule: f.gc_rule.as_ref().map(gc_rule_to_admin) }))
        .collect()
}

/// `families` after `mods`, applied in order, all or none: create fails on an existing
/// family ([`Error::AlreadyExists`]), update and drop on a missing one
/// ([`Error::NotFound`]); an update mask may name only `gc_rule`. Each error names the
/// modification by index.
pub fn apply_modifications(families: &[FamilySchema], mods: &[Modification]) -> Result<Vec<FamilySchema>> {
    let mut out: BTreeMap<String, FamilySchema> = families.iter().map(|f| (f.name.clone(), f.clone())).collect();
    if mods.is_empty() {
        return Err(Error::invalid("modifications: at least one is required"));
    }
    for (i, m) in mods.iter().enumerate() {
        let at = |e: Error| match e {
            Error::InvalidArgument(s) => Error::InvalidArgument(format!("modifications[{i}]: {s}")),
            other => other,
        };
        match &m.r#mod {
            None => return Err(Error::invalid(format!("modifications[{i}]: no create, update or drop given"))),
            Some(Mod::Create(cf)) => {
                let f = family_from_admin(&m.id, cf).map_err(at)?;
                if out.contains_key(&m.id) {
                    return Err(Error::AlreadyExists(format!("modifications[{i}]: column family {:?}", m.id)));
                }
                out.insert(m.id.clone(), f);
            }
            Some(Mod::Update(cf)) => {
                if let Some(mask) = &m.update_mask {
                    if let Some(p) = mask.paths.iter().find(|p| p.as_str() != "gc_rule") {
                        return Err(Error::invalid(format!(
                            "modifications[{i}]: update_mask path {p:?} is not supported (only \"gc_rule\")"
                        )));
                    }
                }
                let f = family_from_admin(&m.id, cf).map_err(at)?;
                if !out.contains_key(&m.id) {
                    return Err(Error::NotFound(format!("modifications[{i}]: column family {:?}", m.id)));
                }
                out.insert(m.id.clone(), f);
            }
            Some(Mod::Drop(drop)) => {
                if !drop {
                    return Err(Error::invalid(format!("modifications[{i}]: drop must be true")));
                }
                if out.remove(&m.id).is_none() {
                    return Err(Error::NotFound(format!("modifications[{i}]: column family {:?}", m.id)));
                }
            }
        }
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(n: i32) -> admin::GcRule {
        admin::GcRule { rule: Some(agc::Rule::MaxNumVersions(n)) }
    }

    fn create(id: &str, rule: Option<admin::GcRule>) -> Modification {
        Modification { id: id.into(), r#mod: Some(Mod::Create(ColumnFamily { gc_rule: rule })), update_mask: None }
    }

    #[test]
    fn gc_rules_roundtrip() {
        let age = prost_types::Duration { seconds: 86_400, nanos: 5 };
        let rule = admin::GcRule {
            rule: Some(agc::Rule::Union(agc::Union {
                rules: vec![
                    versions(3),
                    admin::GcRule {
                        rule: Some(agc::Rule::Intersection(agc::Intersection {
                            rules: vec![versions(1), admin::GcRule { rule: Some(agc::Rule::MaxAge(age)) }],
                        })),
                    },
                ],
            })),
        };
        assert_eq!(gc_rule_to_admin(&gc_rule_to_internal(&rule)), rule);
    }

    #[test]
    fn modifications_apply_in_order_all_or_nothing() {
        let base = apply_modifications(&[], &[create("a", Some(versions(2))), create("b", None)]).unwrap();
        assert_eq!(base.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let update = Modification {
            id: "a".into(),
            r#mod: Some(Mod::Update(ColumnFamily { gc_rule: Some(versions(5)) })),
            update_mask: Some(prost_types::FieldMask { paths: vec!["gc_rule".into()] }),
        };
        let drop = Modification { id: "b".into(), r#mod: Some(Mod::Drop(true)), update_mask: None };
        let out = apply_modifications(&base, &[update, drop.clone(), create("b", None)]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].gc_rule, Some(gc_rule_to_internal(&versions(5))));

        let cases: Vec<(Vec<Modification>, &str)> = vec![
            (vec![], "at least one"),
            (vec![create("a", None)], "already exists"),
            (vec![drop.clone(), drop], "modifications[1]: column family \"b\""),
            (vec![create("bad name", None)], "modifications[0]: invalid argument: family name"),
            (vec![create("c", Some(versions(0)))], "max_num_versions must be at least 1"),
            (vec![Modification { id: "a".into(), r#mod: None, update_mask: None }], "no create, update or drop"),
            (
                vec![Modification { id: "a".into(), r#mod: Some(Mod::Drop(false)), update_mask: None }],
                "drop must be true",
            ),
        ];
        for (mods, want) in cases {
            let e = apply_modifications(&base, &mods).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
