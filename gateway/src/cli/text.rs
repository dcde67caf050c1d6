//! Human-readable output of the CLI: typed LwM2M values, the tree of a Read, aligned tables,
//! the key/value view of one registration and the one-line form of a registration event.
//!
//! Everything here is pure (message in, `String` out) so the exact layout is unit-tested.
//! Every function returns complete lines, each ending in `\n`.

use chrono::{DateTime, SecondsFormat, Utc};
use lwm2m_proto::v1::content::Node;
use lwm2m_proto::v1::registration_event::Kind as EventKind;
use lwm2m_proto::v1::value::Kind;
use lwm2m_proto::v1::{
    Content, DiscoveredLink, ObjectLink, Registration, RegistrationEvent, ResourceContent, Value,
};
use prost_types::Timestamp;

/// RFC 3339 form of a protobuf timestamp in UTC (`2024-05-01T12:00:00Z`, fractional seconds
/// only when present). A timestamp chrono cannot represent falls back to `<seconds>s`.
pub fn rfc3339(ts: &Timestamp) -> String {
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    match DateTime::<Utc>::from_timestamp(ts.seconds, nanos) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{}s", ts.seconds),
    }
}

/// [`rfc3339`] of an optional timestamp; `-` when the field is unset.
pub fn opt_rfc3339(ts: Option<&Timestamp>) -> String {
    ts.map_or_else(|| "-".to_string(), rfc3339)
}

/// RFC 3339 form of an LwM2M Time value (seconds since the Unix epoch).
pub fn epoch_rfc3339(seconds: i64) -> String {
    rfc3339(&Timestamp { seconds, nanos: 0 })
}

/// Lower-case hex of opaque bytes, without separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One typed value as text: strings JSON-quoted, opaque as `0x…` hex, time as RFC 3339,
/// objlnk as `object:instance`, floats always with a decimal point (`1.0`) so that they read
/// differently from integers.
pub fn value_text(v: &Value) -> String {
    match &v.kind {
        None => "<no value>".to_string(),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()).to_string(),
        Some(Kind::IntegerValue(i)) => i.to_string(),
        Some(Kind::UnsignedValue(u)) => u.to_string(),
        Some(Kind::FloatValue(f)) => format!("{f:?}"),
        Some(Kind::BooleanValue(b)) => b.to_string(),
        Some(Kind::OpaqueValue(b)) => format!("0x{}", hex(b)),
        Some(Kind::TimeValue(t)) => epoch_rfc3339(*t),
        Some(Kind::ObjlnkValue(o)) => format!("{}:{}", o.object_id, o.instance_id),
    }
}

/// The ids of an LwM2M path (`"/3/0/1"` → `["3", "0", "1"]`), kept as text: the Read tree only
/// needs them to rebuild the full path of content that does not carry its parents' ids.
fn path_ids(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Flattens a Read result into `(full path, value text)` leaves, in the order the device sent
/// them. `path` is the path that was read: an instance, resource or resource-instance node does
/// not carry the ids above it, so they come from there (`?` if the path is too short).
pub fn content_leaves(path: &str, content: &Content) -> Vec<(String, String)> {
    let ids = path_ids(path);
    let id = |k: usize| ids.get(k).copied().unwrap_or("?").to_string();
    let mut out = Vec::new();
    match &content.node {
        None => {}
        Some(Node::Object(o)) => {
            for inst in &o.instances {
                for r in &inst.resources {
                    resource_leaves(&format!("/{}/{}", o.id, inst.id), r, &mut out);
                }
            }
        }
        Some(Node::Instance(inst)) => {
            for r in &inst.resources {
                resource_leaves(&format!("/{}/{}", id(0), inst.id), r, &mut out);
            }
        }
        Some(Node::Resource(r)) => resource_leaves(&format!("/{}/{}", id(0), id(1)), r, &mut out),
        Some(Node::ResourceInstance(ri)) => {
            let p = format!("/{}/{}/{}/{}", id(0), id(1), id(2), ri.id);
            out.push((p, opt_value_text(ri.value.as_ref())));
        }
    }
    out
}

/// Leaves of one resource under `base` (`/obj/inst`): one for a single resource, one per
/// instance for a multiple resource, or `[]` for a multiple resource without instances.
fn resource_leaves(base: &str, r: &ResourceContent, out: &mut Vec<(String, String)>) {
    let path = format!("{base}/{}", r.id);
    if r.multiple || !r.instances.is_empty() {
        for ri in &r.instances {
            out.push((
                format!("{path}/{}", ri.id),
                opt_value_text(ri.value.as_ref()),
            ));
        }
        if r.instances.is_empty() {
            out.push((path, "[]".to_string()));
        }
    } else {
        out.push((path, opt_value_text(r.value.as_ref())));
    }
}

fn opt_value_text(v: Option<&Value>) -> String {
    v.map_or_else(|| "<no value>".to_string(), value_text)
}

/// The Read result as `path  value` lines with the values aligned; `<path>  (empty)` when the
/// device returned nothing (an object without instances, say).
pub fn render_content(path: &str, content: Option<&Content>) -> String {
    let leaves = content.map(|c| content_leaves(path, c)).unwrap_or_default();
    if leaves.is_empty() {
        return format!("{path}  (empty)\n");
    }
    let width = leaves
        .iter()
        .map(|(p, _)| p.chars().count())
        .max()
        .unwrap_or(0);
    leaves
        .iter()
        .map(|(p, v)| format!("{p:<width$}  {v}\n"))
        .collect()
}

/// A plain-text table: columns separated by two spaces and padded to their widest cell (by
/// characters, so UTF-8 endpoint names line up); the last column is not padded, so no line
/// carries trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `-` for an empty string field, so that a table cell is never blank.
fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

/// Column headers of `lwm2m list`.
pub const LIST_HEADERS: [&str; 8] = [
    "ENDPOINT", "REG ID", "VERSION", "BINDING", "LIFETIME", "ADDRESS", "NODE", "EXPIRES",
];

/// The `lwm2m list` table.
pub fn registration_table(regs: &[Registration]) -> String {
    let rows: Vec<Vec<String>> = regs
        .iter()
        .map(|r| {
            vec![
                or_dash(&r.endpoint),
                or_dash(&r.registration_id),
                or_dash(&r.lwm2m_version),
                or_dash(&r.binding),
                format!("{}s", r.lifetime_seconds),
                or_dash(&r.address),
                or_dash(&r.owner_node),
                opt_rfc3339(r.expires_at.as_ref()),
            ]
        })
        .collect();
    table(&LIST_HEADERS, &rows)
}

/// LwM2M path of an object link (`/3` or `/3/0`).
pub fn object_link_path(l: &ObjectLink) -> String {
    match l.instance_id {
        Some(i) => format!("/{}/{i}", l.object_id),
        None => format!("/{}", l.object_id),
    }
}

/// An object link in CoRE link-format style: `</3/0>` or `</3>;ver=1.1`.
pub fn object_link_text(l: &ObjectLink) -> String {
    let mut s = format!("<{}>", object_link_path(l));
    if !l.version.is_empty() {
        s.push_str(&format!(";ver={}", l.version));
    }
    s
}

/// The `lwm2m get` view: aligned `key: value` lines, then the declared object links.
/// How a registration is secured: `psk <identity>` or `none (plain CoAP)`.
pub fn security_text(psk_identity: &str) -> String {
    match psk_identity {
        "" => "none (plain CoAP)".into(),
        id => format!("DTLS psk identity {id}"),
    }
}

pub fn registration_details(r: &Registration) -> String {
    let binding = if r.binding.is_empty() {
        "U (default)".to_string()
    } else {
        r.binding.clone()
    };
    let formats: Vec<String> = r
        .supported_content_formats
        .iter()
        .map(u32::to_string)
        .collect();
    let mut attrs: Vec<String> = r
        .additional_attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    attrs.sort();
    let fields = [
        ("endpoint", or_dash(&r.endpoint)),
        ("registration id", or_dash(&r.registration_id)),
        ("lwm2m version", or_dash(&r.lwm2m_version)),
        ("binding", binding),
        ("queue mode", r.queue_mode.to_string()),
        ("sms number", or_dash(&r.sms_number)),
        ("address", or_dash(&r.address)),
        ("security", security_text(&r.psk_identity)),
        ("owner node", or_dash(&r.owner_node)),
        ("root path", or_dash(&r.root_path)),
        ("lifetime", format!("{}s", r.lifetime_seconds)),
        ("registered at", opt_rfc3339(r.registered_at.as_ref())),
        ("last update", opt_rfc3339(r.last_update.as_ref())),
        ("expires at", opt_rfc3339(r.expires_at.as_ref())),
        ("content formats", or_dash(&formats.join(", "))),
        ("attributes", or_dash(&attrs.join(", "))),
    ];
    let width = fields.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out: String = fields
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:")))
        .collect();
    out.push_str(&format!("objects ({}):\n", r.objects.len()));
    for l in &r.objects {
        out.push_str(&format!("  {}\n", object_link_text(l)));
    }
    out
}

/// Proto name of an event kind (`NEW`), or `KIND_<n>` for a value this build does not know.
pub fn event_kind_name(kind: i32) -> String {
    EventKind::try_from(kind)
        .map(|k| k.as_str_name().to_string())
        .unwrap_or_else(|_| format!("KIND_{kind}"))
}

/// One `lwm2m watch` line: `seq  KIND  endpoint  reg_id  node  time`, plus
/// `replaces <reg_id>` when a NEW registration replaced an older one of the same endpoint.
pub fn event_line(ev: &RegistrationEvent) -> String {
    let reg = ev.registration.clone().unwrap_or_default();
    let mut s = format!(
        "{}  {:<6}  {}  {}  {}  {}",
        ev.sequence,
        event_kind_name(ev.kind),
        or_dash(&reg.endpoint),
        or_dash(&reg.registration_id),
        or_dash(&reg.owner_node),
        opt_rfc3339(ev.time.as_ref()),
    );
    if !ev.replaced_registration_id.is_empty() {
        s.push_str(&format!("  replaces {}", ev.replaced_registration_id));
    }
    s.push('\n');
    s
}

/// The line of a successful write, execute, delete or write-attributes: `OK (2.04)`, or `OK`
/// when the gateway gave no CoAP code.
pub fn ok_line(coap: &str) -> String {
    match coap {
        "" => "OK\n".to_string(),
        c => format!("OK ({c})\n"),
    }
}

/// The line of a successful create: `created /3303/1 (2.01)`.
pub fn created_line(location: &str, coap: &str) -> String {
    let mut s = "created".to_string();
    if !location.is_empty() {
        s.push_str(&format!(" {location}"));
    }
    if !coap.is_empty() {
        s.push_str(&format!(" ({coap})"));
    }
    s.push('\n');
    s
}

/// Attributes of the LwM2M spec in their usual order; others follow alphabetically.
const ATTRIBUTE_ORDER: [&str; 9] = [
    "dim", "ver", "pmin", "pmax", "gt", "lt", "st", "epmin", "epmax",
];

/// The attributes of a link in a stable order (the proto map keeps none): the LwM2M ones as in
/// [`ATTRIBUTE_ORDER`], then the rest by name.
pub fn ordered_attributes(l: &DiscoveredLink) -> Vec<(&str, &str)> {
    let rank = |k: &str| {
        ATTRIBUTE_ORDER
            .iter()
            .position(|a| *a == k)
            .unwrap_or(ATTRIBUTE_ORDER.len())
    };
    let mut attrs: Vec<(&str, &str)> = l
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    attrs.sort_by(|a, b| (rank(a.0), a.0).cmp(&(rank(b.0), b.0)));
    attrs
}

/// A Discover link in CoRE link-format: `</3/0/7>;dim=2;pmin=10` (a flag attribute without
/// `=`).
pub fn discovered_link_text(l: &DiscoveredLink) -> String {
    let mut s = format!("<{}>", l.path);
    for (k, v) in ordered_attributes(l) {
        match v {
            "" => s.push_str(&format!(";{k}")),
            v => s.push_str(&format!(";{k}={v}")),
        }
    }
    s
}

/// The `lwm2m discover` output: one link per line; `<path>  (no links)` when there are none.
pub fn discover_lines(path: &str, links: &[DiscoveredLink]) -> String {
    if links.is_empty() {
        return format!("{path}  (no links)\n");
    }
    links
        .iter()
        .map(|l| format!("{}\n", discovered_link_text(l)))
        .collect()
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
