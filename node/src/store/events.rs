//! Registration rows as API messages and as outbox events.

use lwm2m_core::link::ObjectLinks;
use lwm2m_proto::subjects::{reg_event, RegEventKind};
use lwm2m_proto::v1::{registration_event::Kind, ObjectLink, Registration, RegistrationEvent};
use prost::Message;

use super::RegistrationRow;

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// When the registration state in `reg` was committed (the database clock), as carried by an
/// event: what tells a stale ownership event from a current one.
pub fn last_update(reg: &Registration) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = reg.last_update.as_ref()?;
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
}

/// The API view of a stored registration.
pub fn registration_proto(row: &RegistrationRow) -> Registration {
    // Stored links were validated when received; a parse failure here means an older format,
    // and the raw text still travels in `object_links`.
    let objects = ObjectLinks::parse(&row.object_links)
        .map(|l| {
            l.objects
                .iter()
                .map(|o| ObjectLink {
                    object_id: u32::from(o.object),
                    instance_id: o.instance.map(u32::from),
                    version: o.version.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let additional_attributes = row
        .attributes
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Registration {
        endpoint: row.endpoint.clone(),
        registration_id: row.reg_id.clone(),
        lwm2m_version: row.lwm2m_version.clone(),
        lifetime_seconds: u32::try_from(row.lifetime_s).unwrap_or(u32::MAX),
        binding: row.binding.clone(),
        queue_mode: row.queue_mode,
        sms_number: row.sms_number.clone().unwrap_or_default(),
        address: row.peer_addr.clone(),
        owner_node: row.owner_node.clone(),
        root_path: row.root_path.clone(),
        objects,
        supported_content_formats: row.content_formats.iter().map(|c| *c as u32).collect(),
        object_links: row.object_links.clone(),
        additional_attributes,
        registered_at: Some(timestamp(row.registered_at)),
        last_update: Some(timestamp(row.updated_at)),
        expires_at: Some(timestamp(row.expires_at)),
        psk_identity: row.psk_identity.clone().unwrap_or_default(),
    }
}

/// A fresh, unique event id.
pub fn new_event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// An event ready for the outbox.
#[derive(Debug, Clone)]
pub struct RegEvent {
    pub event_id: String,
    pub subject: String,
    pub payload: Vec<u8>,
}

/// Builds the outbox entry for `kind` on `row`; the event id doubles as JetStream's Nats-Msg-Id.
pub fn event_payload(
    kind: RegEventKind,
    row: &RegistrationRow,
    replaced: Option<&str>,
    event_id: &str,
) -> RegEvent {
    let event_id = event_id.to_string();
    let proto_kind = match kind {
        RegEventKind::New => Kind::New,
        RegEventKind::Update => Kind::Update,
        RegEventKind::Delete => Kind::Delete,
        RegEventKind::Expire => Kind::Expire,
    };
    let event = RegistrationEvent {
        kind: proto_kind as i32,
        registration: Some(registration_proto(row)),
        event_id: event_id.clone(),
        time: Some(timestamp(chrono::Utc::now())),
        sequence: 0,
        replaced_registration_id: replaced.unwrap_or_default().to_string(),
    };
    RegEvent {
        event_id,
        subject: reg_event(kind, &row.endpoint),
        payload: event.encode_to_vec(),
    }
}
