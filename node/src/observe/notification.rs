//! Notification messages (observe.proto) from the records a device reported.

use std::time::SystemTime;

use lwm2m_core::content::Record;
use lwm2m_proto::v1::{notification, Notification, TimedValue};

use crate::convert::value_proto;

/// SenML (RFC 8428 §4.5.3): times below 2^28 are relative to the time of reception.
const RELATIVE_LIMIT: f64 = 268_435_456.0;

/// What a notification is about.
pub struct Origin<'a> {
    pub kind: notification::Kind,
    pub endpoint: &'a str,
    pub reg_id: &'a str,
    pub observation_id: &'a str,
    pub paths: &'a [String],
    pub node: &'a str,
}

pub fn build(
    origin: &Origin<'_>,
    received: SystemTime,
    code: String,
    content_format: u16,
    observe_value: Option<u32>,
    records: &[Record],
) -> Notification {
    let received_s = received
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    Notification {
        kind: origin.kind as i32,
        endpoint: origin.endpoint.to_string(),
        registration_id: origin.reg_id.to_string(),
        observation_id: origin.observation_id.to_string(),
        paths: origin.paths.to_vec(),
        values: records
            .iter()
            .map(|r| TimedValue {
                path: r.path.to_string(),
                value: Some(value_proto(&r.value)),
                device_time: r.time.and_then(|t| device_time(t, received_s)),
            })
            .collect(),
        received_at: Some(timestamp(received_s)),
        sequence: 0,
        coap_code: code,
        content_format: u32::from(content_format),
        observe_value,
        node: origin.node.to_string(),
        event_id: crate::store::new_event_id(),
    }
}

fn device_time(t: f64, received_s: f64) -> Option<prost_types::Timestamp> {
    if !t.is_finite() {
        return None;
    }
    let absolute = if t.abs() < RELATIVE_LIMIT {
        received_s + t
    } else {
        t
    };
    (absolute >= 0.0 && absolute < 1e11).then(|| timestamp(absolute))
}

fn timestamp(s: f64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: s.floor() as i64,
        nanos: ((s - s.floor()) * 1e9) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_core::content::{Path, Value};

    #[test]
    fn device_times_absolute_relative_and_absent() {
        let received = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let mut records = vec![
            Record::new(Path::parse("/3/0/9").unwrap(), Value::Integer(1)),
            Record::new(Path::parse("/3/0/9").unwrap(), Value::Integer(2)),
            Record::new(Path::parse("/3/0/9").unwrap(), Value::Integer(3)),
        ];
        records[1].time = Some(1_600_000_000.5);
        records[2].time = Some(-10.0);
        let paths = vec!["/3/0/9".to_string()];
        let origin = Origin {
            kind: notification::Kind::Observe,
            endpoint: "ep",
            reg_id: "r",
            observation_id: "",
            paths: &paths,
            node: "n",
        };
        let n = build(&origin, received, "2.05".into(), 110, Some(4), &records);
        assert_eq!(n.values[0].device_time, None);
        let t1 = n.values[1].device_time.unwrap();
        assert_eq!((t1.seconds, t1.nanos), (1_600_000_000, 500_000_000));
        assert_eq!(n.values[2].device_time.unwrap().seconds, 1_699_999_990);
        assert_eq!(n.received_at.unwrap().seconds, 1_700_000_000);
        assert_eq!(n.observe_value, Some(4));
        assert_eq!(n.event_id.len(), 32);
    }
}
