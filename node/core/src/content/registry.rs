//! The object model the node runs with: the built-in OMA core objects 0–7
//! ([`CoreModel`]) and common IPSO objects ([`IpsoModel`]), plus objects
//! loaded from OMA DDF files ([`parse_ddf`](super::parse_ddf)).
//!
//! A DDF definition replaces a built-in object with the same id, and of two
//! DDF definitions with the same id the one added last wins, so a deployment
//! can correct or update any object (e.g. a newer object version from the
//! OMA LwM2M Object and Resource Registry). Objects nobody defines stay
//! unknown: self-describing formats (SenML) still carry their values, while
//! TLV and text/plain decode them as Opaque (TS 1.1 Core §7.4).

use std::collections::BTreeMap;

use super::ddf::ObjectDef;
use super::ipso::IpsoModel;
use super::model::{CoreModel, ObjectModel};
use super::ResourceType;

/// Registry names of the core objects (OMA LwM2M Object and Resource Registry).
const CORE_NAMES: [&str; 8] = [
    "LwM2M Security",
    "LwM2M Server",
    "LwM2M Access Control",
    "Device",
    "Connectivity Monitoring",
    "Firmware Update",
    "Location",
    "Connectivity Statistics",
];

/// Built-in objects plus DDF definitions. `ModelRegistry::default()` knows
/// the built-in objects only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelRegistry {
    added: BTreeMap<u16, ObjectDef>,
}

/// Where the registry's definition of an object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectSource {
    Core,
    Ipso,
    Ddf,
}

impl ModelRegistry {
    pub fn new() -> ModelRegistry {
        ModelRegistry::default()
    }

    /// Adds DDF definitions; each replaces any earlier definition (built-in
    /// or added) of the same object id.
    pub fn add(&mut self, defs: impl IntoIterator<Item = ObjectDef>) {
        for def in defs {
            self.added.insert(def.id, def);
        }
    }

    /// [`ModelRegistry::add`], by value.
    pub fn with(mut self, defs: impl IntoIterator<Item = ObjectDef>) -> ModelRegistry {
        self.add(defs);
        self
    }

    /// Where the definition of `object` comes from; `None` if unknown.
    pub fn source(&self, object: u16) -> Option<ObjectSource> {
        if self.added.contains_key(&object) {
            Some(ObjectSource::Ddf)
        } else if usize::from(object) < CORE_NAMES.len() {
            Some(ObjectSource::Core)
        } else if IpsoModel.knows(object) {
            Some(ObjectSource::Ipso)
        } else {
            None
        }
    }

    /// Whether the registry has a definition of `object`.
    pub fn knows(&self, object: u16) -> bool {
        self.source(object).is_some()
    }

    /// The DDF definition added for `object`, if any.
    pub fn added(&self, object: u16) -> Option<&ObjectDef> {
        self.added.get(&object)
    }

    /// Ids of the objects added from DDF files, ascending.
    pub fn added_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.added.keys().copied()
    }

    /// The object's name, e.g. `"Device"` for 3 or `"Temperature"` for 3303.
    pub fn object_name(&self, object: u16) -> Option<&str> {
        match self.source(object)? {
            ObjectSource::Ddf => self.added.get(&object).map(|d| d.name.as_str()),
            ObjectSource::Core => CORE_NAMES.get(usize::from(object)).copied(),
            ObjectSource::Ipso => IpsoModel.object_name(object),
        }
    }

    /// The resource's name, e.g. `"Battery Level"` for /3/x/9.
    pub fn resource_name(&self, object: u16, resource: u16) -> Option<&str> {
        match self.source(object)? {
            ObjectSource::Ddf => self
                .added
                .get(&object)?
                .resource(resource)
                .map(|r| r.name.as_str()),
            ObjectSource::Core => CoreModel.resource_name(object, resource),
            ObjectSource::Ipso => IpsoModel.resource_name(object, resource),
        }
    }
}

impl ObjectModel for ModelRegistry {
    fn resource_type(&self, object: u16, resource: u16) -> Option<ResourceType> {
        match self.source(object)? {
            ObjectSource::Ddf => self.added.get(&object)?.resource(resource).map(|r| r.kind),
            ObjectSource::Core => CoreModel.resource_type(object, resource),
            ObjectSource::Ipso => IpsoModel.resource_type(object, resource),
        }
    }
    fn is_multiple(&self, object: u16, resource: u16) -> Option<bool> {
        match self.source(object)? {
            ObjectSource::Ddf => self
                .added
                .get(&object)?
                .resource(resource)
                .map(|r| r.multiple),
            ObjectSource::Core => CoreModel.is_multiple(object, resource),
            ObjectSource::Ipso => IpsoModel.is_multiple(object, resource),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{decode, encode, parse_ddf, ContentFormat, Path, Record, Value};

    fn custom(id: u16, name: &str, ty: &str) -> ObjectDef {
        let xml = format!(
            "<LWM2M><Object><Name>{name}</Name><ObjectID>{id}</ObjectID>\
             <MultipleInstances>Multiple</MultipleInstances><Resources>\
             <Item ID=\"0\"><Name>Value</Name><Operations>R</Operations>\
             <MultipleInstances>Single</MultipleInstances><Type>{ty}</Type></Item>\
             </Resources></Object></LWM2M>"
        );
        parse_ddf(&xml).unwrap().remove(0)
    }

    #[test]
    fn default_knows_core_and_ipso() {
        let m = ModelRegistry::default();
        assert!(m.knows(0) && m.knows(7) && m.knows(3303) && m.knows(3347));
        assert!(!m.knows(8) && !m.knows(32769));
        assert_eq!(m.resource_type(3, 9), Some(ResourceType::Integer));
        assert_eq!(m.is_multiple(3, 7), Some(true));
        assert_eq!(m.resource_type(3303, 5700), Some(ResourceType::Float));
        assert_eq!(m.object_name(1), Some("LwM2M Server"));
        assert_eq!(m.object_name(3304), Some("Humidity"));
        assert_eq!(m.resource_name(3, 9), Some("Battery Level"));
        assert_eq!(m.resource_name(3316, 5821), Some("Current Calibration"));
        assert_eq!(m.resource_type(32769, 0), None);
        assert_eq!(m.object_name(32769), None);
        assert_eq!(m.source(3), Some(ObjectSource::Core));
        assert_eq!(m.source(3303), Some(ObjectSource::Ipso));
    }

    #[test]
    fn ddf_adds_and_overrides_latest_wins() {
        let mut m = ModelRegistry::new();
        m.add([custom(32769, "Meter", "Integer")]);
        assert!(m.knows(32769));
        assert_eq!(m.resource_type(32769, 0), Some(ResourceType::Integer));
        assert_eq!(m.object_name(32769), Some("Meter"));
        assert_eq!(m.resource_name(32769, 0), Some("Value"));
        assert_eq!(m.resource_type(32769, 1), None);

        // Overriding a built-in object replaces it entirely.
        m.add([custom(3303, "My Temperature", "String")]);
        assert_eq!(m.source(3303), Some(ObjectSource::Ddf));
        assert_eq!(m.object_name(3303), Some("My Temperature"));
        assert_eq!(m.resource_type(3303, 0), Some(ResourceType::String));
        assert_eq!(m.resource_type(3303, 5700), None);
        m.add([custom(3, "Not a Device", "Float")]);
        assert_eq!(m.resource_type(3, 0), Some(ResourceType::Float));
        assert_eq!(m.resource_type(3, 9), None);

        // The last definition added wins.
        let m = m.with([
            custom(32769, "Meter v2", "Float"),
            custom(32769, "Meter v3", "Boolean"),
        ]);
        assert_eq!(m.object_name(32769), Some("Meter v3"));
        assert_eq!(m.resource_type(32769, 0), Some(ResourceType::Boolean));
        assert_eq!(m.added_ids().collect::<Vec<_>>(), vec![3, 3303, 32769]);
        // Other built-ins are untouched.
        assert_eq!(m.resource_type(3304, 5700), Some(ResourceType::Float));
    }

    #[test]
    fn tlv_types_unknown_objects_only_once_defined() {
        let p = Path::new_instance(32769, 0);
        let records = [Record::new(
            Path::new_resource(32769, 0, 0),
            Value::Integer(42),
        )];
        let known = ModelRegistry::new().with([custom(32769, "Meter", "Integer")]);
        let tlv = encode(ContentFormat::Tlv, &records, &p, &known).unwrap();
        assert_eq!(
            decode(ContentFormat::Tlv, &p, &tlv, &known).unwrap(),
            records
        );
        let unknown = ModelRegistry::default();
        let opaque = decode(ContentFormat::Tlv, &p, &tlv, &unknown).unwrap();
        assert_eq!(opaque[0].value, Value::Opaque(vec![42]));
    }
}
