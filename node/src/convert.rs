//! Core value trees as API messages.

use lwm2m_core::content::{InstanceNode, ResourceNode, ResourceValue, Tree, Value};
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
