//! `--json` output: explicit conversions of the generated prost messages to `serde_json::Value`
//! (prost types have no serde impls, and an explicit mapping keeps the output stable when the
//! proto grows). Conventions: field names are the proto field names; timestamps and LwM2M Time
//! values are RFC 3339 strings; unset timestamps are `null`; opaque bytes are lower-case hex.

use lwm2m_proto::v1::content::Node;
use lwm2m_proto::v1::value::Kind;
use lwm2m_proto::v1::{
    Content, DiscoverResponse, InstanceContent, ObjectLink, ReadResponse, Registration,
    RegistrationEvent, ResourceContent, ResourceInstanceContent, Value,
};
use prost_types::Timestamp;
use serde_json::{json, Map, Value as Json};

use super::text::{
    epoch_rfc3339, event_kind_name, hex, object_link_path, ordered_attributes, rfc3339,
};

/// An optional timestamp as an RFC 3339 string, or `null`.
pub fn timestamp_json(ts: Option<&Timestamp>) -> Json {
    ts.map_or(Json::Null, |t| Json::String(rfc3339(t)))
}

/// A typed value as `{"type": ..., "value": ...}`, so that integer, unsigned, time and objlnk
/// stay distinguishable. Types: string, integer, unsigned, float, boolean, opaque (hex),
/// time (RFC 3339), objlnk (`"3:0"`); an unset value is `{"type": "none", "value": null}`.
pub fn value_json(v: &Value) -> Json {
    let (ty, value) = match &v.kind {
        None => ("none", Json::Null),
        Some(Kind::StringValue(s)) => ("string", json!(s)),
        Some(Kind::IntegerValue(i)) => ("integer", json!(i)),
        Some(Kind::UnsignedValue(u)) => ("unsigned", json!(u)),
        Some(Kind::FloatValue(f)) => ("float", json!(f)),
        Some(Kind::BooleanValue(b)) => ("boolean", json!(b)),
        Some(Kind::OpaqueValue(b)) => ("opaque", json!(hex(b))),
        Some(Kind::TimeValue(t)) => ("time", json!(epoch_rfc3339(*t))),
        Some(Kind::ObjlnkValue(o)) => (
            "objlnk",
            json!(format!("{}:{}", o.object_id, o.instance_id)),
        ),
    };
    json!({ "type": ty, "value": value })
}

fn opt_value_json(v: Option<&Value>) -> Json {
    v.map_or_else(|| value_json(&Value::default()), value_json)
}

fn resource_instance_json(ri: &ResourceInstanceContent) -> Json {
    json!({ "id": ri.id, "value": opt_value_json(ri.value.as_ref()) })
}

/// A single resource carries `value`; a multiple one carries `instances` instead.
fn resource_json(r: &ResourceContent) -> Json {
    if r.multiple || !r.instances.is_empty() {
        let instances: Vec<Json> = r.instances.iter().map(resource_instance_json).collect();
        json!({ "id": r.id, "multiple": true, "instances": instances })
    } else {
        json!({ "id": r.id, "multiple": false, "value": opt_value_json(r.value.as_ref()) })
    }
}

fn instance_json(i: &InstanceContent) -> Json {
    let resources: Vec<Json> = i.resources.iter().map(resource_json).collect();
    json!({ "id": i.id, "resources": resources })
}

/// Read content, tagged by its shape: `{"object": {...}}`, `{"instance": {...}}`,
/// `{"resource": {...}}` or `{"resource_instance": {...}}`; `null` when empty.
pub fn content_json(c: Option<&Content>) -> Json {
    match c.and_then(|c| c.node.as_ref()) {
        None => Json::Null,
        Some(Node::Object(o)) => {
            let instances: Vec<Json> = o.instances.iter().map(instance_json).collect();
            json!({ "object": { "id": o.id, "instances": instances } })
        }
        Some(Node::Instance(i)) => json!({ "instance": instance_json(i) }),
        Some(Node::Resource(r)) => json!({ "resource": resource_json(r) }),
        Some(Node::ResourceInstance(ri)) => {
            json!({ "resource_instance": resource_instance_json(ri) })
        }
    }
}

/// The `lwm2m read --json` document. `coap_code` is the `lwm2m-coap-code` response metadata
/// when the gateway sent it, else the code in the response body.
pub fn read_json(endpoint: &str, path: &str, resp: &ReadResponse, coap_meta: Option<&str>) -> Json {
    let coap = coap_meta.unwrap_or(&resp.coap_code);
    json!({
        "endpoint": endpoint,
        "path": path,
        "coap_code": coap,
        "content_format": resp.content_format,
        "content": content_json(resp.content.as_ref()),
        "notes": resp.notes,
    })
}

fn object_link_json(l: &ObjectLink) -> Json {
    json!({
        "path": object_link_path(l),
        "object_id": l.object_id,
        "instance_id": l.instance_id,
        "version": l.version,
    })
}

/// A registration with every proto field (additional attributes as a JSON object).
pub fn registration_json(r: &Registration) -> Json {
    let attrs: Map<String, Json> = r
        .additional_attributes
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    json!({
        "endpoint": r.endpoint,
        "registration_id": r.registration_id,
        "lwm2m_version": r.lwm2m_version,
        "lifetime_seconds": r.lifetime_seconds,
        "binding": r.binding,
        "queue_mode": r.queue_mode,
        "sms_number": r.sms_number,
        "address": r.address,
        "psk_identity": r.psk_identity,
        "owner_node": r.owner_node,
        "root_path": r.root_path,
        "objects": r.objects.iter().map(object_link_json).collect::<Vec<_>>(),
        "supported_content_formats": r.supported_content_formats,
        "object_links": r.object_links,
        "additional_attributes": attrs,
        "registered_at": timestamp_json(r.registered_at.as_ref()),
        "last_update": timestamp_json(r.last_update.as_ref()),
        "expires_at": timestamp_json(r.expires_at.as_ref()),
    })
}

/// The `lwm2m list --json` document; `next_page_token` is `null` after `--all` or on the
/// last page.
pub fn list_json(regs: &[Registration], next_page_token: Option<&str>) -> Json {
    let token = next_page_token.filter(|t| !t.is_empty());
    json!({
        "registrations": regs.iter().map(registration_json).collect::<Vec<_>>(),
        "next_page_token": token,
    })
}

/// One `lwm2m watch --json` line. `replaced_registration_id` is `null` unless a NEW replaced
/// an older registration; `registration` is `null` if the event carried none.
pub fn event_json(ev: &RegistrationEvent) -> Json {
    let replaced = Some(ev.replaced_registration_id.as_str()).filter(|s| !s.is_empty());
    json!({
        "sequence": ev.sequence,
        "kind": event_kind_name(ev.kind),
        "event_id": ev.event_id,
        "time": timestamp_json(ev.time.as_ref()),
        "replaced_registration_id": replaced,
        "registration": ev.registration.as_ref().map_or(Json::Null, registration_json),
    })
}

/// The `--json` document of write, execute, delete and write-attributes.
pub fn outcome_json(endpoint: &str, path: &str, coap_code: &str) -> Json {
    json!({ "endpoint": endpoint, "path": path, "coap_code": coap_code })
}

/// The `lwm2m create --json` document; `location` is the new instance's path (`null` if the
/// gateway gave none).
pub fn create_json(endpoint: &str, path: &str, coap_code: &str, location: &str) -> Json {
    let location = Some(location).filter(|l| !l.is_empty());
    json!({ "endpoint": endpoint, "path": path, "coap_code": coap_code, "location": location })
}

/// The `lwm2m discover --json` document: each link with its attributes as a JSON object (a flag
/// attribute has the value `""`), and the link-format payload as the device sent it.
pub fn discover_json(endpoint: &str, path: &str, coap_code: &str, resp: &DiscoverResponse) -> Json {
    let links: Vec<Json> = resp
        .links
        .iter()
        .map(|l| {
            let attrs: Map<String, Json> = ordered_attributes(l)
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({ "path": l.path, "attributes": attrs })
        })
        .collect();
    json!({
        "endpoint": endpoint,
        "path": path,
        "coap_code": coap_code,
        "links": links,
        "link_format": resp.link_format,
    })
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
