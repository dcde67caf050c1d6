//! Value tree: records arranged as object → instance → resource →
//! resource instance (the LwM2M resource model, TS 1.1 Core §7.1), rooted
//! at the path that was read.

use std::collections::BTreeMap;

use super::{ContentError, ObjectModel, Path, Record, Value};

const FMT: &str = "value tree";

#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    Object(ObjectNode),
    Instance(InstanceNode),
    Resource(ResourceNode),
    ResourceInstance(ResourceInstanceNode),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectNode {
    pub id: u16,
    pub instances: Vec<InstanceNode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceNode {
    pub id: u16,
    pub resources: Vec<ResourceNode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceNode {
    pub id: u16,
    pub value: ResourceValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResourceValue {
    Single(Value),
    Multiple(Vec<ResourceInstanceNode>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInstanceNode {
    pub id: u16,
    pub value: Value,
}

/// Values of one resource as collected from records.
#[derive(Default)]
struct Slot {
    single: Option<Value>,
    instances: BTreeMap<u16, Value>,
}

type Instances = BTreeMap<u16, BTreeMap<u16, Slot>>;

/// Builds the tree rooted at `requested` from decoded records, children
/// sorted by id. A resource is Multiple when it has resource-instance
/// records or the model says it is multiple. Errors: a record outside
/// `requested` or above resource level, two values for one path, a resource
/// both single and multiple, or no value for a requested single resource or
/// resource instance.
pub fn build_tree(
    requested: &Path,
    records: &[Record],
    model: &dyn ObjectModel,
) -> Result<Tree, ContentError> {
    let Some(o) = requested.object() else {
        return Err(ContentError::InvalidRequest {
            format: FMT,
            requested: *requested,
            reason: "a tree is rooted at an object or below",
        });
    };
    let mut instances: Instances = BTreeMap::new();
    for r in records {
        if !requested.is_prefix_of(&r.path) {
            return Err(ContentError::OutsideRequested {
                format: FMT,
                path: r.path,
                requested: *requested,
            });
        }
        let (Some(i), Some(res)) = (r.path.instance(), r.path.resource()) else {
            return Err(ContentError::Conflict {
                format: FMT,
                path: r.path,
                reason: "a value above resource level",
            });
        };
        let slot = instances.entry(i).or_default().entry(res).or_default();
        let duplicate = match r.path.resource_instance() {
            None => slot.single.replace(r.value.clone()).is_some(),
            Some(ri) => slot.instances.insert(ri, r.value.clone()).is_some(),
        };
        if duplicate {
            return Err(ContentError::Conflict {
                format: FMT,
                path: r.path,
                reason: "more than one value",
            });
        }
    }
    let resource = |i: u16, id: u16, slot: Slot| -> Result<ResourceNode, ContentError> {
        let path = Path::new_resource(o, i, id);
        let multiple = !slot.instances.is_empty() || model.is_multiple(o, id) == Some(true);
        let value = match (slot.single, multiple) {
            (Some(_), true) => {
                return Err(ContentError::Conflict {
                    format: FMT,
                    path,
                    reason: "resource is both single and multiple",
                })
            }
            (Some(v), false) => ResourceValue::Single(v),
            (None, true) => ResourceValue::Multiple(
                slot.instances
                    .into_iter()
                    .map(|(id, value)| ResourceInstanceNode { id, value })
                    .collect(),
            ),
            (None, false) => {
                return Err(ContentError::Conflict {
                    format: FMT,
                    path,
                    reason: "single resource without value",
                })
            }
        };
        Ok(ResourceNode { id, value })
    };
    let instance =
        |id: u16, resources: BTreeMap<u16, Slot>| -> Result<InstanceNode, ContentError> {
            let resources = resources
                .into_iter()
                .map(|(r, slot)| resource(id, r, slot))
                .collect::<Result<_, _>>()?;
            Ok(InstanceNode { id, resources })
        };
    match (
        requested.instance(),
        requested.resource(),
        requested.resource_instance(),
    ) {
        (None, _, _) => {
            let instances = instances
                .into_iter()
                .map(|(i, rs)| instance(i, rs))
                .collect::<Result<_, _>>()?;
            Ok(Tree::Object(ObjectNode { id: o, instances }))
        }
        (Some(i), None, _) => Ok(Tree::Instance(instance(
            i,
            instances.remove(&i).unwrap_or_default(),
        )?)),
        (Some(i), Some(r), None) => {
            let slot = instances
                .remove(&i)
                .and_then(|mut rs| rs.remove(&r))
                .unwrap_or_default();
            Ok(Tree::Resource(resource(i, r, slot)?))
        }
        (Some(i), Some(r), Some(ri)) => {
            let value = instances
                .remove(&i)
                .and_then(|mut rs| rs.remove(&r))
                .and_then(|mut s| s.instances.remove(&ri));
            let value = value.ok_or(ContentError::Conflict {
                format: FMT,
                path: *requested,
                reason: "resource instance without value",
            })?;
            Ok(Tree::ResourceInstance(ResourceInstanceNode {
                id: ri,
                value,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::testgen::arb_object_records;
    use crate::content::CoreModel;
    use proptest::prelude::*;

    fn rec(path: Path, v: i64) -> Record {
        Record::new(path, Value::Integer(v))
    }

    #[test]
    fn builds_sorted_object_tree() {
        let records = [
            rec(Path::new_resource(3, 1, 9), 50),
            rec(Path::new_resource_instance(3, 0, 11, 1), 2),
            rec(Path::new_resource(3, 0, 9), 95),
            rec(Path::new_resource_instance(3, 0, 11, 0), 1),
        ];
        let tree = build_tree(&Path::new_object(3), &records, &CoreModel).unwrap();
        let errors = ResourceValue::Multiple(vec![
            ResourceInstanceNode {
                id: 0,
                value: Value::Integer(1),
            },
            ResourceInstanceNode {
                id: 1,
                value: Value::Integer(2),
            },
        ]);
        assert_eq!(
            tree,
            Tree::Object(ObjectNode {
                id: 3,
                instances: vec![
                    InstanceNode {
                        id: 0,
                        resources: vec![
                            ResourceNode {
                                id: 9,
                                value: ResourceValue::Single(Value::Integer(95))
                            },
                            ResourceNode {
                                id: 11,
                                value: errors.clone()
                            }
                        ]
                    },
                    InstanceNode {
                        id: 1,
                        resources: vec![ResourceNode {
                            id: 9,
                            value: ResourceValue::Single(Value::Integer(50))
                        }]
                    },
                ],
            })
        );
        let res = build_tree(&Path::new_resource(3, 0, 11), &records[1..2], &CoreModel).unwrap();
        assert_eq!(
            res,
            Tree::Resource(ResourceNode {
                id: 11,
                value: ResourceValue::Multiple(vec![ResourceInstanceNode {
                    id: 1,
                    value: Value::Integer(2)
                }])
            })
        );
        let ri = build_tree(
            &Path::new_resource_instance(3, 0, 11, 0),
            &records[3..],
            &CoreModel,
        )
        .unwrap();
        assert_eq!(
            ri,
            Tree::ResourceInstance(ResourceInstanceNode {
                id: 0,
                value: Value::Integer(1)
            })
        );
        assert_eq!(
            build_tree(&Path::new_instance(3, 7), &[], &CoreModel).unwrap(),
            Tree::Instance(InstanceNode {
                id: 7,
                resources: vec![]
            })
        );
        // A multiple resource read with no instances is an empty Multiple.
        assert_eq!(
            build_tree(&Path::new_resource(3, 0, 11), &[], &CoreModel).unwrap(),
            Tree::Resource(ResourceNode {
                id: 11,
                value: ResourceValue::Multiple(vec![])
            })
        );
    }

    #[test]
    fn rejects_inconsistent_records() {
        let dev = Path::new_instance(3, 0);
        let reason =
            |recs: &[Record], req: Path| match build_tree(&req, recs, &CoreModel).unwrap_err() {
                ContentError::Conflict { reason, .. } => reason,
                e => panic!("{e:?}"),
            };
        assert_eq!(
            reason(&[rec(Path::new_resource(3, 0, 11), 1)], dev),
            "resource is both single and multiple"
        );
        assert_eq!(
            reason(
                &[
                    rec(Path::new_resource(3303, 0, 1), 1),
                    rec(Path::new_resource_instance(3303, 0, 1, 0), 1)
                ],
                Path::new_object(3303)
            ),
            "resource is both single and multiple"
        );
        assert_eq!(
            reason(
                &[
                    rec(Path::new_resource(3, 0, 9), 1),
                    rec(Path::new_resource(3, 0, 9), 2)
                ],
                dev
            ),
            "more than one value"
        );
        assert_eq!(
            reason(&[], Path::new_resource(3, 0, 9)),
            "single resource without value"
        );
        assert_eq!(
            reason(&[], Path::new_resource_instance(3, 0, 11, 0)),
            "resource instance without value"
        );
        assert_eq!(
            reason(&[rec(Path::new_instance(3, 0), 1)], dev),
            "a value above resource level"
        );
        let err = build_tree(&dev, &[rec(Path::new_resource(3, 1, 9), 1)], &CoreModel).unwrap_err();
        assert_eq!(
            err,
            ContentError::OutsideRequested {
                format: "value tree",
                path: Path::new_resource(3, 1, 9),
                requested: dev
            }
        );
        assert!(matches!(
            build_tree(&Path::ROOT, &[], &CoreModel),
            Err(ContentError::InvalidRequest { .. })
        ));
    }

    proptest! {
        #[test]
        fn tree_holds_every_record(recs in arb_object_records(false)) {
            let Some(o) = recs.first().and_then(|r| r.path.object()) else { return Ok(()) };
            // Drop single values of model-multiple resources (a genuine conflict).
            let recs: Vec<_> = recs.into_iter().filter(|r| r.path.depth() == 4 || CoreModel.is_multiple(o, r.path.resource().unwrap_or(0)) != Some(true)).collect();
            let Tree::Object(node) = build_tree(&Path::new_object(o), &recs, &CoreModel).unwrap() else { panic!("not an object") };
            let mut flat = Vec::new();
            for inst in node.instances {
                for res in inst.resources {
                    match res.value {
                        ResourceValue::Single(v) => flat.push(Record::new(Path::new_resource(o, inst.id, res.id), v)),
                        ResourceValue::Multiple(ris) => flat.extend(ris.into_iter().map(|ri| Record::new(Path::new_resource_instance(o, inst.id, res.id, ri.id), ri.value))),
                    }
                }
            }
            prop_assert_eq!(flat, recs);
        }
    }
}
