//! Object model: the data type and multiplicity of each resource.
//!
//! Decoders need it because TLV and text/plain carry no type information,
//! and SenML's `v` does not distinguish Integer, Unsigned, Float and Time.
//! [`CoreModel`] holds the core OMA objects 0–7 as published in the OMA
//! LwM2M Object and Resource Registry (Security 1.2, Server 1.1, Access
//! Control 1.1, Device 1.1, Connectivity Monitoring 1.3, Firmware Update
//! 1.1, Location 1.0, Connectivity Statistics 1.0).

use super::ResourceType;

/// Resource metadata lookup. `None` means the object or resource is unknown.
pub trait ObjectModel {
    fn resource_type(&self, object: u16, resource: u16) -> Option<ResourceType>;
    fn is_multiple(&self, object: u16, resource: u16) -> Option<bool>;
}

/// The built-in table of OMA core objects 0–7.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreModel;

use ResourceType::{
    Boolean as B, Float as F, Integer as I, None as E, ObjLnk as L, Opaque as O, String as S,
    Time as T, Unsigned as U,
};
const SINGLE: bool = false;
const MULTI: bool = true;

/// (resource id, name, type, multiple)
type Row = (u16, &'static str, ResourceType, bool);

const SECURITY: &[Row] = &[
    (0, "LwM2M Server URI", S, SINGLE),
    (1, "Bootstrap-Server", B, SINGLE),
    (2, "Security Mode", I, SINGLE),
    (3, "Public Key or Identity", O, SINGLE),
    (4, "Server Public Key", O, SINGLE),
    (5, "Secret Key", O, SINGLE),
    (6, "SMS Security Mode", I, SINGLE),
    (7, "SMS Binding Key Parameters", O, SINGLE),
    (8, "SMS Binding Secret Key(s)", O, SINGLE),
    (9, "LwM2M Server SMS Number", S, SINGLE),
    (10, "Short Server ID", I, SINGLE),
    (11, "Client Hold Off Time", I, SINGLE),
    (12, "Bootstrap-Server Account Timeout", I, SINGLE),
    (13, "Matching Type", U, SINGLE),
    (14, "SNI", S, SINGLE),
    (15, "Certificate Usage", U, SINGLE),
    (16, "DTLS/TLS Ciphersuite", U, MULTI),
    (17, "OSCORE Security Mode", L, SINGLE),
    (18, "Groups To Use by Client", U, MULTI),
    (19, "Signature Algorithms Supported by Server", U, MULTI),
    (20, "Signature Algorithms To Use by Client", U, MULTI),
    (
        21,
        "Signature Algorithm Certs Supported by Server",
        U,
        MULTI,
    ),
    (22, "TLS 1.3 Features To Use by Client", U, SINGLE),
    (23, "TLS Extensions Supported by Server", U, SINGLE),
    (24, "TLS Extensions To Use by Client", U, SINGLE),
    (25, "Secondary LwM2M Server URI", S, MULTI),
    (26, "MQTT Server", L, SINGLE),
    (27, "LwM2M COSE Security", L, MULTI),
    (28, "RDS Destination Port", I, SINGLE),
    (29, "RDS Source Port", I, SINGLE),
    (30, "RDS Application ID", S, SINGLE),
];

const SERVER: &[Row] = &[
    (0, "Short Server ID", I, SINGLE),
    (1, "Lifetime", I, SINGLE),
    (2, "Default Minimum Period", I, SINGLE),
    (3, "Default Maximum Period", I, SINGLE),
    (4, "Disable", E, SINGLE),
    (5, "Disable Timeout", I, SINGLE),
    (
        6,
        "Notification Storing When Disabled or Offline",
        B,
        SINGLE,
    ),
    (7, "Binding", S, SINGLE),
    (8, "Registration Update Trigger", E, SINGLE),
    (9, "Bootstrap-Request Trigger", E, SINGLE),
    (10, "APN Link", L, SINGLE),
    (11, "TLS-DTLS Alert Code", U, SINGLE),
    (12, "Last Bootstrapped", T, SINGLE),
    (13, "Registration Priority Order", U, SINGLE),
    (14, "Initial Registration Delay Timer", U, SINGLE),
    (15, "Registration Failure Block", B, SINGLE),
    (16, "Bootstrap on Registration Failure", B, SINGLE),
    (17, "Communication Retry Count", U, SINGLE),
    (18, "Communication Retry Timer", U, SINGLE),
    (19, "Communication Sequence Delay Timer", U, SINGLE),
    (20, "Communication Sequence Retry Count", U, SINGLE),
    (21, "Trigger", B, SINGLE),
    (22, "Preferred Transport", S, SINGLE),
    (23, "Mute Send", B, SINGLE),
];

const ACCESS_CONTROL: &[Row] = &[
    (0, "Object ID", I, SINGLE),
    (1, "Object Instance ID", I, SINGLE),
    (2, "ACL", I, MULTI),
    (3, "Access Control Owner", I, SINGLE),
];

const DEVICE: &[Row] = &[
    (0, "Manufacturer", S, SINGLE),
    (1, "Model Number", S, SINGLE),
    (2, "Serial Number", S, SINGLE),
    (3, "Firmware Version", S, SINGLE),
    (4, "Reboot", E, SINGLE),
    (5, "Factory Reset", E, SINGLE),
    (6, "Available Power Sources", I, MULTI),
    (7, "Power Source Voltage", I, MULTI),
    (8, "Power Source Current", I, MULTI),
    (9, "Battery Level", I, SINGLE),
    (10, "Memory Free", I, SINGLE),
    (11, "Error Code", I, MULTI),
    (12, "Reset Error Code", E, SINGLE),
    (13, "Current Time", T, SINGLE),
    (14, "UTC Offset", S, SINGLE),
    (15, "Timezone", S, SINGLE),
    (16, "Supported Binding and Modes", S, SINGLE),
    (17, "Device Type", S, SINGLE),
    (18, "Hardware Version", S, SINGLE),
    (19, "Software Version", S, SINGLE),
    (20, "Battery Status", I, SINGLE),
    (21, "Memory Total", I, SINGLE),
    (22, "ExtDevInfo", L, MULTI),
];

const CONNECTIVITY_MONITORING: &[Row] = &[
    (0, "Network Bearer", I, SINGLE),
    (1, "Available Network Bearer", I, MULTI),
    (2, "Radio Signal Strength", I, SINGLE),
    (3, "Link Quality", I, SINGLE),
    (4, "IP Addresses", S, MULTI),
    (5, "Router IP Addresses", S, MULTI),
    (6, "Link Utilization", I, SINGLE),
    (7, "APN", S, MULTI),
    (8, "Cell ID", I, SINGLE),
    (9, "SMNC", I, SINGLE),
    (10, "SMCC", I, SINGLE),
    (11, "SignalSNR", I, SINGLE),
    (12, "LAC", I, SINGLE),
    (13, "Coverage Enhancement Level", I, SINGLE),
];

/// Resource 4 was withdrawn before Firmware Update 1.0 was published.
const FIRMWARE_UPDATE: &[Row] = &[
    (0, "Package", O, SINGLE),
    (1, "Package URI", S, SINGLE),
    (2, "Update", E, SINGLE),
    (3, "State", I, SINGLE),
    (5, "Update Result", I, SINGLE),
    (6, "PkgName", S, SINGLE),
    (7, "PkgVersion", S, SINGLE),
    (8, "Firmware Update Protocol Support", I, MULTI),
    (9, "Firmware Update Delivery Method", I, SINGLE),
    (10, "Cancel", E, SINGLE),
    (11, "Severity", I, SINGLE),
    (12, "Last State Change Time", T, SINGLE),
    (13, "Maximum Defer Period", U, SINGLE),
];

const LOCATION: &[Row] = &[
    (0, "Latitude", F, SINGLE),
    (1, "Longitude", F, SINGLE),
    (2, "Altitude", F, SINGLE),
    (3, "Radius", F, SINGLE),
    (4, "Velocity", O, SINGLE),
    (5, "Timestamp", T, SINGLE),
    (6, "Speed", F, SINGLE),
];

const CONNECTIVITY_STATISTICS: &[Row] = &[
    (0, "SMS Tx Counter", I, SINGLE),
    (1, "SMS Rx Counter", I, SINGLE),
    (2, "Tx Data", I, SINGLE),
    (3, "Rx Data", I, SINGLE),
    (4, "Max Message Size", I, SINGLE),
    (5, "Average Message Size", I, SINGLE),
    (6, "Start", E, SINGLE),
    (7, "Stop", E, SINGLE),
    (8, "Collection Period", I, SINGLE),
];

impl CoreModel {
    fn row(object: u16, resource: u16) -> Option<&'static Row> {
        let table = match object {
            0 => SECURITY,
            1 => SERVER,
            2 => ACCESS_CONTROL,
            3 => DEVICE,
            4 => CONNECTIVITY_MONITORING,
            5 => FIRMWARE_UPDATE,
            6 => LOCATION,
            7 => CONNECTIVITY_STATISTICS,
            _ => return None,
        };
        table.iter().find(|row| row.0 == resource)
    }

    /// The registry name of a resource, e.g. `"Battery Level"` for /3/x/9.
    pub fn resource_name(&self, object: u16, resource: u16) -> Option<&'static str> {
        Self::row(object, resource).map(|r| r.1)
    }
}

impl ObjectModel for CoreModel {
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
    fn device_object_matches_registry() {
        let m = CoreModel;
        let types: Vec<_> = (0..=22)
            .map(|r| (m.resource_type(3, r).unwrap(), m.is_multiple(3, r).unwrap()))
            .collect();
        assert_eq!(
            types,
            vec![
                (S, false),
                (S, false),
                (S, false),
                (S, false),
                (E, false),
                (E, false),
                (I, true),
                (I, true),
                (I, true),
                (I, false),
                (I, false),
                (I, true),
                (E, false),
                (T, false),
                (S, false),
                (S, false),
                (S, false),
                (S, false),
                (S, false),
                (S, false),
                (I, false),
                (I, false),
                (L, true),
            ]
        );
        assert_eq!(m.resource_type(3, 23), None);
        assert_eq!(m.resource_name(3, 9), Some("Battery Level"));
    }

    #[test]
    fn other_core_objects_spot_checks() {
        let m = CoreModel;
        assert_eq!(m.resource_type(0, 0), Some(S));
        assert_eq!(
            (m.resource_type(0, 16), m.is_multiple(0, 16)),
            (Some(U), Some(true))
        );
        assert_eq!(m.resource_type(1, 1), Some(I));
        assert_eq!(m.resource_type(1, 8), Some(E));
        assert_eq!(m.resource_type(1, 12), Some(T));
        assert_eq!(m.is_multiple(2, 2), Some(true));
        assert_eq!(m.is_multiple(4, 4), Some(true));
        assert_eq!(m.resource_type(5, 0), Some(O));
        assert_eq!(m.resource_type(5, 4), None);
        assert_eq!(m.resource_type(6, 0), Some(F));
        assert_eq!(m.resource_type(6, 5), Some(T));
        assert_eq!(m.resource_type(7, 6), Some(E));
        assert_eq!(m.resource_type(8, 0), None);
        assert_eq!(m.is_multiple(3303, 5700), None);
        // ids are unique within each table
        for t in [
            SECURITY,
            SERVER,
            ACCESS_CONTROL,
            DEVICE,
            CONNECTIVITY_MONITORING,
            FIRMWARE_UPDATE,
            LOCATION,
            CONNECTIVITY_STATISTICS,
        ] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
