//! Proptest generators shared by the codec tests: records for one object
//! whose values conform to [`CoreModel`] (unknown objects get Opaque).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{CoreModel, ObjectModel, Path, Record, ResourceType, Value};

/// Raw material from which a value of any type is derived.
type Seed = (i64, u64, f64, String, Vec<u8>, bool, (u16, u16), f64);

fn arb_seed() -> impl Strategy<Value = Seed> {
    (
        any::<i64>(),
        any::<u64>(),
        prop_oneof![-1e300f64..1e300, -10.0f64..10.0, Just(0.5), Just(-2.0)],
        "\\PC{0,12}",
        proptest::collection::vec(any::<u8>(), 0..12),
        any::<bool>(),
        any::<(u16, u16)>(),
        prop_oneof![0.0f64..2e9, -100.0f64..100.0],
    )
}

/// The value the model expects at /o/_/r, built from a seed.
pub(crate) fn value_for(o: u16, r: u16, s: &Seed) -> Value {
    match CoreModel.resource_type(o, r) {
        Some(ResourceType::String) => Value::String(s.3.clone()),
        Some(ResourceType::Integer) => Value::Integer(s.0),
        Some(ResourceType::Unsigned) => Value::Unsigned(s.1),
        Some(ResourceType::Float) => Value::Float(s.2),
        Some(ResourceType::Boolean) => Value::Boolean(s.5),
        Some(ResourceType::Time) => Value::Time(s.0),
        Some(ResourceType::ObjLnk) => Value::ObjLnk {
            object: s.6 .0,
            instance: s.6 .1,
        },
        Some(ResourceType::Opaque) | Some(ResourceType::None) | None => Value::Opaque(s.4.clone()),
    }
}

/// Records of one object (0–7 or the unknown 3303), unique paths, no
/// resource both single and multiple, sorted by path. With `timed`, records
/// carry a time.
pub(crate) fn arb_object_records(timed: bool) -> impl Strategy<Value = Vec<Record>> {
    let entry = (0u16..3, 0u16..32, proptest::option::of(0u16..4), arb_seed());
    (
        prop_oneof![0u16..8, Just(3303u16)],
        proptest::collection::vec(entry, 0..24),
    )
        .prop_map(move |(o, entries)| {
            let mut map = BTreeMap::new();
            for (i, r, ri, seed) in entries {
                let path = match ri {
                    Some(ri) => Path::new_resource_instance(o, i, r, ri),
                    None => Path::new_resource(o, i, r),
                };
                let time = timed.then_some(seed.7);
                map.insert(
                    path,
                    Record {
                        path,
                        value: value_for(o, r, &seed),
                        time,
                    },
                );
            }
            let multiple: Vec<Path> = map
                .keys()
                .filter(|p| p.depth() == 4)
                .filter_map(|p| p.parent())
                .collect();
            for p in multiple {
                map.remove(&p);
            }
            map.into_values().collect()
        })
}

/// Requests covering the generated records: the object, its first instance
/// and its first resource (with the records each one answers).
pub(crate) fn sub_requests(recs: &[Record]) -> Vec<(Path, Vec<Record>)> {
    let mut out = Vec::new();
    let Some(first) = recs.first() else {
        return out;
    };
    let (Some(o), Some(i), Some(r)) = (
        first.path.object(),
        first.path.instance(),
        first.path.resource(),
    ) else {
        return out;
    };
    for requested in [
        Path::new_object(o),
        Path::new_instance(o, i),
        Path::new_resource(o, i, r),
    ] {
        out.push((
            requested,
            recs.iter()
                .filter(|x| requested.is_prefix_of(&x.path))
                .cloned()
                .collect(),
        ));
    }
    if first.path.depth() == 4 {
        out.push((first.path, vec![first.clone()]));
    }
    out
}
