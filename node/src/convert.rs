//! Core value trees as API messages.

use lwm2m_core::content::{InstanceNode, Path, Record, ResourceNode, ResourceValue, Tree, Value};
use lwm2m_proto::v1::{
    content, value, Content, InstanceContent, ObjectContent, ObjectLinkValue, ResourceContent,
    ResourceInstanceContent, Value as ValueProto,
};

pub fn tree_proto(tree: &Tree) -> Content {
    let node = match tree {
        Tree::Object(o) => content::Node::Object(ObjectContent {
            id: u32::from(o.id),
            instances: o.instances.iter().map(instance_proto).collect(),
        }),
        Tree::Instance(i) => content::Node::Instance(instance_proto(i)),
        Tree::Resource(r) => content::Node::Resource(resource_proto(r)),
        Tree::ResourceInstance(ri) => content::Node::ResourceInstance(ResourceInstanceContent {
            id: u32::from(ri.id),
            value: Some(value_proto(&ri.value)),
        }),
    };
    Content { node: Some(node) }
}

fn instance_proto(i: &InstanceNode) -> InstanceContent {
    InstanceContent {
        id: u32::from(i.id),
        resources: i.resources.iter().map(resource_proto).collect(),
    }
}

fn resource_proto(r: &ResourceNode) -> ResourceContent {
    match &r.value {
        ResourceValue::Single(v) => ResourceContent {
            id: u32::from(r.id),
            value: Some(value_proto(v)),
            multiple: false,
            instances: vec![],
        },
        ResourceValue::Multiple(instances) => ResourceContent {
            id: u32::from(r.id),
            value: None,
            multiple: true,
            instances: instances
                .iter()
                .map(|ri| ResourceInstanceContent {
                    id: u32::from(ri.id),
                    value: Some(value_proto(&ri.value)),
                })
                .collect(),
        },
    }
}

pub fn value_proto(v: &Value) -> ValueProto {
    let kind = match v {
        Value::String(s) => value::Kind::StringValue(s.clone()),
        Value::Integer(i) => value::Kind::IntegerValue(*i),
        Value::Unsigned(u) => value::Kind::UnsignedValue(*u),
        Value::Float(f) => value::Kind::FloatValue(*f),
        Value::Boolean(b) => value::Kind::BooleanValue(*b),
        Value::Opaque(o) => value::Kind::OpaqueValue(o.clone()),
        Value::Time(t) => value::Kind::TimeValue(*t),
        Value::ObjLnk { object, instance } => value::Kind::ObjlnkValue(ObjectLinkValue {
            object_id: u32::from(*object),
            instance_id: u32::from(*instance),
        }),
    };
    ValueProto { kind: Some(kind) }
}

/// An API value as a core value; `None` when the value is unset.
pub fn value_core(v: &ValueProto) -> Option<Value> {
    Some(match v.kind.as_ref()? {
        value::Kind::StringValue(s) => Value::String(s.clone()),
        value::Kind::IntegerValue(i) => Value::Integer(*i),
        value::Kind::UnsignedValue(u) => Value::Unsigned(*u),
        value::Kind::FloatValue(f) => Value::Float(*f),
        value::Kind::BooleanValue(b) => Value::Boolean(*b),
        value::Kind::OpaqueValue(o) => Value::Opaque(o.clone()),
        value::Kind::TimeValue(t) => Value::Time(*t),
        value::Kind::ObjlnkValue(l) => Value::ObjLnk {
            object: u16::try_from(l.object_id).ok()?,
            instance: u16::try_from(l.instance_id).ok()?,
        },
    })
}

/// Path/value pairs of a Write as records; the error names the offending entry.
pub fn records_of(values: &[lwm2m_proto::v1::PathValue]) -> Result<Vec<Record>, String> {
    values
        .iter()
        .map(|pv| {
            let path =
                Path::parse(&pv.path).map_err(|e| format!("value path {:?}: {e}", pv.path))?;
            if path.resource().is_none() {
                return Err(format!(
                    "value path {path} must name a resource or resource instance"
                ));
            }
            let value = pv
                .value
                .as_ref()
                .and_then(value_core)
                .ok_or_else(|| format!("value at {path} is unset or out of range"))?;
            Ok(Record::new(path, value))
        })
        .collect()
}
