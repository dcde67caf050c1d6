//! Common IPSO Smart Objects (the 3200–3400 range of the OMA LwM2M Object and
//! Resource Registry).
//!
//! IPSO objects are built from *reusable resources* (ids 5500–6999 of the
//! registry): a reusable resource has the same name, data type and
//! multiplicity in every object that lists it (e.g. 5700 Sensor Value is a
//! Float wherever it appears), so [`RESOURCES`] holds each reusable resource
//! once and [`OBJECTS`] names which ones each object has. Both follow the
//! registry's DDF files of the object versions named below (LwM2M 1.0 objects,
//! so their types are those of LwM2M TS 1.1 Core Appendix C).

use super::{ObjectModel, ResourceType};

use ResourceType::{
    Boolean as B, Float as F, Integer as I, None as E, Opaque as O, String as S, Time as T,
};
const SINGLE: bool = false;

/// (resource id, name, type, multiple)
type Row = (u16, &'static str, ResourceType, bool);

/// The reusable resources the objects below use, sorted by id. All of them are
/// single-instance.
const RESOURCES: &[Row] = &[
    (5500, "Digital Input State", B, SINGLE),
    (5501, "Digital Input Counter", I, SINGLE),
    (5502, "Digital Input Polarity", B, SINGLE),
    (5503, "Digital Input Debounce", I, SINGLE),
    (5504, "Digital Input Edge Selection", I, SINGLE),
    (5505, "Digital Input Counter Reset", E, SINGLE),
    // 5514–5516 belong to Location 3336 version 1.0 (replaced by 6051–6053 in 2.0).
    (5514, "Latitude", S, SINGLE),
    (5515, "Longitude", S, SINGLE),
    (5516, "Uncertainty", S, SINGLE),
    (5517, "Velocity", O, SINGLE),
    (5518, "Timestamp", T, SINGLE),
    (5527, "Text", S, SINGLE),
    (5528, "X Coordinate", I, SINGLE),
    (5529, "Y Coordinate", I, SINGLE),
    (5530, "Clear Display", E, SINGLE),
    (5531, "Contrast", F, SINGLE),
    (5545, "Max X Coordinate", I, SINGLE),
    (5546, "Max Y Coordinate", I, SINGLE),
    (5548, "Level", F, SINGLE),
    (5550, "Digital Output State", B, SINGLE),
    (5551, "Digital Output Polarity", B, SINGLE),
    (5600, "Analog Input Current Value", F, SINGLE),
    (5601, "Min Measured Value", F, SINGLE),
    (5602, "Max Measured Value", F, SINGLE),
    (5603, "Min Range Value", F, SINGLE),
    (5604, "Max Range Value", F, SINGLE),
    (5605, "Reset Min and Max Measured Values", E, SINGLE),
    (5650, "Analog Output Current Value", F, SINGLE),
    (5700, "Sensor Value", F, SINGLE),
    (5701, "Sensor Units", S, SINGLE),
    (5702, "X Value", F, SINGLE),
    (5703, "Y Value", F, SINGLE),
    (5704, "Z Value", F, SINGLE),
    (5705, "Compass Direction", F, SINGLE),
    (5706, "Colour", S, SINGLE),
    (5750, "Application Type", S, SINGLE),
    (5751, "Sensor Type", S, SINGLE),
    (5800, "Instantaneous active power", F, SINGLE),
    (5801, "Min Measured active power", F, SINGLE),
    (5802, "Max Measured active power", F, SINGLE),
    (5803, "Min Range active power", F, SINGLE),
    (5804, "Max Range active power", F, SINGLE),
    (5805, "Cumulative active power", F, SINGLE),
    (5806, "Active Power Calibration", F, SINGLE),
    (5810, "Instantaneous reactive power", F, SINGLE),
    (5811, "Min Measured reactive power", F, SINGLE),
    (5812, "Max Measured reactive power", F, SINGLE),
    (5813, "Min Range reactive power", F, SINGLE),
    (5814, "Max Range reactive power", F, SINGLE),
    (5815, "Cumulative reactive power", F, SINGLE),
    (5816, "Reactive Power Calibration", F, SINGLE),
    (5820, "Power factor", F, SINGLE),
    (5821, "Current Calibration", F, SINGLE),
    (5822, "Reset Cumulative energy", E, SINGLE),
    (5850, "On/Off", B, SINGLE),
    (5851, "Dimmer", I, SINGLE),
    (5852, "On time", I, SINGLE),
    (5853, "Multi-state Output", S, SINGLE),
    (5854, "Off Time", I, SINGLE),
    (5900, "Set Point Value", F, SINGLE),
    (6042, "Measurement Quality Indicator", I, SINGLE),
    (6049, "Measurement Quality Level", I, SINGLE),
    (6050, "Fractional Timestamp", F, SINGLE),
    (6051, "Numeric Latitude", F, SINGLE),
    (6052, "Numeric Longitude", F, SINGLE),
    (6053, "Numeric Uncertainty", F, SINGLE),
];

/// Resources every measuring sensor object shares (Illuminance, Temperature,
/// Humidity, Barometer, …): value, units, min/max measured and range, reset,
/// application type, timestamps and measurement quality.
const SENSOR: &[u16] = &[
    5518, 5601, 5602, 5603, 5604, 5605, 5700, 5701, 5750, 6042, 6049, 6050,
];
/// [`SENSOR`] plus 5821 Current Calibration (Voltage, Current, Pressure, Power).
const CALIBRATED_SENSOR: &[u16] = &[
    5518, 5601, 5602, 5603, 5604, 5605, 5700, 5701, 5750, 5821, 6042, 6049, 6050,
];

/// (object id, registry name, object version, its resources sorted by id)
type ObjectRow = (u16, &'static str, &'static str, &'static [u16]);

/// The IPSO objects built in, sorted by id. All are multiple-instance.
const OBJECTS: &[ObjectRow] = &[
    (
        3200,
        "Digital Input",
        "1.1",
        &[5500, 5501, 5502, 5503, 5504, 5505, 5518, 5750, 5751, 6050],
    ),
    (
        3201,
        "Digital Output",
        "1.1",
        &[5518, 5550, 5551, 5750, 6050],
    ),
    (
        3202,
        "Analog Input",
        "1.1",
        &[
            5518, 5600, 5601, 5602, 5603, 5604, 5605, 5750, 5751, 6042, 6049, 6050,
        ],
    ),
    (
        3203,
        "Analog Output",
        "1.1",
        &[5518, 5603, 5604, 5650, 5750, 6050],
    ),
    (
        3300,
        "Generic Sensor",
        "1.1",
        &[
            5518, 5601, 5602, 5603, 5604, 5605, 5700, 5701, 5750, 5751, 6042, 6049, 6050,
        ],
    ),
    (3301, "Illuminance", "1.1", SENSOR),
    (3303, "Temperature", "1.1", SENSOR),
    (3304, "Humidity", "1.1", SENSOR),
    (
        3305,
        "Power Measurement",
        "1.1",
        &[
            5518, 5605, 5750, 5800, 5801, 5802, 5803, 5804, 5805, 5806, 5810, 5811, 5812, 5813,
            5814, 5815, 5816, 5820, 5821, 5822, 6042, 6049, 6050,
        ],
    ),
    (
        3306,
        "Actuation",
        "1.1",
        &[5518, 5750, 5850, 5851, 5852, 5853, 6050],
    ),
    (
        3308,
        "Set Point",
        "1.1",
        &[5518, 5701, 5706, 5750, 5900, 6050],
    ),
    (
        3311,
        "Light Control",
        "1.0",
        &[5701, 5706, 5750, 5805, 5820, 5850, 5851, 5852],
    ),
    (
        3312,
        "Power Control",
        "1.1",
        &[5518, 5750, 5805, 5820, 5850, 5851, 5852, 6050],
    ),
    (
        3313,
        "Accelerometer",
        "1.1",
        &[
            5518, 5603, 5604, 5701, 5702, 5703, 5704, 5750, 6042, 6049, 6050,
        ],
    ),
    (3315, "Barometer", "1.1", SENSOR),
    (3316, "Voltage", "1.1", CALIBRATED_SENSOR),
    (3317, "Current", "1.1", CALIBRATED_SENSOR),
    (3323, "Pressure", "1.1", CALIBRATED_SENSOR),
    (3328, "Power", "1.1", CALIBRATED_SENSOR),
    // Version 2.0 plus the string coordinates 5514–5516 of version 1.0.
    (
        3336,
        "Location",
        "2.0",
        &[
            5514, 5515, 5516, 5517, 5518, 5705, 5750, 6042, 6049, 6050, 6051, 6052, 6053,
        ],
    ),
    (
        3341,
        "Addressable Text Display",
        "1.0",
        &[5527, 5528, 5529, 5530, 5531, 5545, 5546, 5548, 5750],
    ),
    (
        3342,
        "On/Off switch",
        "1.1",
        &[5500, 5501, 5518, 5750, 5852, 5854, 6050],
    ),
    (3347, "Push button", "1.1", &[5500, 5501, 5518, 5750, 6050]),
];

/// The built-in table of common IPSO Smart Objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpsoModel;

impl IpsoModel {
    fn object(object: u16) -> Option<&'static ObjectRow> {
        OBJECTS
            .binary_search_by_key(&object, |o| o.0)
            .ok()
            .map(|i| &OBJECTS[i])
    }

    fn row(object: u16, resource: u16) -> Option<&'static Row> {
        Self::object(object)?.3.binary_search(&resource).ok()?;
        RESOURCES
            .binary_search_by_key(&resource, |r| r.0)
            .ok()
            .map(|i| &RESOURCES[i])
    }

    /// Whether `object` is one of the built-in IPSO objects.
    pub fn knows(&self, object: u16) -> bool {
        Self::object(object).is_some()
    }

    /// The registry name of an object, e.g. `"Temperature"` for 3303.
    pub fn object_name(&self, object: u16) -> Option<&'static str> {
        Self::object(object).map(|o| o.1)
    }

    /// The object version the table follows, e.g. `"1.1"`.
    pub fn object_version(&self, object: u16) -> Option<&'static str> {
        Self::object(object).map(|o| o.2)
    }

    /// The registry name of a resource, e.g. `"Sensor Value"` for /3303/x/5700.
    pub fn resource_name(&self, object: u16, resource: u16) -> Option<&'static str> {
        Self::row(object, resource).map(|r| r.1)
    }

    /// The ids of the built-in IPSO objects, ascending.
    pub fn objects(&self) -> impl Iterator<Item = u16> {
        OBJECTS.iter().map(|o| o.0)
    }
}

impl ObjectModel for IpsoModel {
    fn resource_type(&self, object: u16, resource: u16) -> Option<ResourceType> {
        Self::row(object, resource).map(|r| r.2)
    }
    fn is_multiple(&self, object: u16, resource: u16) -> Option<bool> {
        Self::row(object, resource).map(|r| r.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_complete() {
        assert!(RESOURCES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(OBJECTS.windows(2).all(|w| w[0].0 < w[1].0));
        for (id, name, _, resources) in OBJECTS {
            assert!(resources.windows(2).all(|w| w[0] < w[1]), "{id} {name}");
            for r in *resources {
                assert!(IpsoModel.resource_type(*id, *r).is_some(), "/{id}/x/{r}");
            }
        }
        let ids: Vec<u16> = IpsoModel.objects().collect();
        for required in [
            3200, 3201, 3202, 3203, 3300, 3301, 3303, 3304, 3305, 3306, 3308, 3311, 3312, 3313,
            3315, 3316, 3317, 3323, 3328, 3336, 3341, 3342, 3347,
        ] {
            assert!(ids.contains(&required), "{required}");
        }
    }

    #[test]
    fn reusable_resources_have_registry_types() {
        let m = IpsoModel;
        let t = |o, r| m.resource_type(o, r);
        assert_eq!(t(3303, 5700), Some(F));
        assert_eq!(t(3303, 5701), Some(S));
        assert_eq!(t(3303, 5601), Some(F));
        assert_eq!(t(3303, 5604), Some(F));
        assert_eq!(t(3303, 5605), Some(E));
        assert_eq!(t(3303, 5750), Some(S));
        assert_eq!(t(3303, 5518), Some(T));
        assert_eq!(t(3200, 5500), Some(B));
        assert_eq!(t(3200, 5501), Some(I));
        assert_eq!(t(3311, 5850), Some(B));
        assert_eq!(t(3311, 5851), Some(I));
        assert_eq!(t(3201, 5550), Some(B));
        assert_eq!(t(3336, 5517), Some(O));
        assert_eq!(t(3336, 6051), Some(F));
        assert_eq!(t(3336, 5514), Some(S));
        assert_eq!(t(3341, 5527), Some(S));
        assert_eq!(t(3341, 5530), Some(E));
        assert_eq!(t(3305, 5822), Some(E));
        assert_eq!(t(3308, 5900), Some(F));
        assert_eq!(m.is_multiple(3313, 5702), Some(false));
        // A reusable resource the object does not list is unknown there.
        assert_eq!(t(3303, 5500), None);
        assert_eq!(t(3311, 5518), None);
        assert_eq!(t(3302, 5500), None);
        assert_eq!(t(3, 0), None);
    }

    #[test]
    fn names() {
        let m = IpsoModel;
        assert_eq!(m.object_name(3303), Some("Temperature"));
        assert_eq!(m.object_name(3342), Some("On/Off switch"));
        assert_eq!(m.object_version(3336), Some("2.0"));
        assert_eq!(m.resource_name(3304, 5700), Some("Sensor Value"));
        assert_eq!(
            m.resource_name(3202, 5605),
            Some("Reset Min and Max Measured Values")
        );
        assert!(m.knows(3347));
        assert!(!m.knows(3));
        assert_eq!(m.object_name(9999), None);
    }
}
