//! Loader of OMA LwM2M object definition (DDF) files.
//!
//! A DDF file is the XML form in which the OMA LwM2M Object and Resource
//! Registry publishes objects, following the registry's `LWM2M.xsd` schema:
//!
//! ```xml
//! <LWM2M>
//!   <Object ObjectType="MODefinition">
//!     <Name>…</Name> <ObjectID>3303</ObjectID> <ObjectVersion>1.1</ObjectVersion>
//!     <MultipleInstances>Multiple</MultipleInstances> <Mandatory>Optional</Mandatory>
//!     <Resources>
//!       <Item ID="5700"> <Name>Sensor Value</Name> <Operations>R</Operations>
//!         <MultipleInstances>Single</MultipleInstances> <Mandatory>Mandatory</Mandatory>
//!         <Type>Float</Type> <RangeEnumeration/> <Units/> <Description/> </Item>
//!     </Resources>
//!   </Object>
//! </LWM2M>
//! ```
//!
//! Types are the data types of LwM2M TS 1.1 Core Appendix C. `Corelnk` is
//! kept as a String (its values are CoRE Link Format text), and an empty
//! `<Type>` means the resource carries no value (executable resources).
//!
//! The parser is sans-IO and strict: the input is capped at
//! [`MAX_DDF_BYTES`], DTDs are refused, and a missing or malformed required
//! field is a [`DdfError`] naming its line and column in the text and the
//! object and resource it belongs to. Unknown elements are ignored.

use std::fmt;

use roxmltree::{Document, Node, ParsingOptions};

use super::ResourceType;

/// Largest DDF text accepted, in bytes. The registry's largest object
/// definition is a few tens of kilobytes.
pub const MAX_DDF_BYTES: usize = 1024 * 1024;
/// Largest number of XML nodes in one DDF text.
const MAX_NODES: u32 = 200_000;

/// One object definition of a DDF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDef {
    pub id: u16,
    pub name: String,
    /// `<ObjectVersion>`, "1.0" when absent (an unversioned object is 1.0 in TS 1.1 Core).
    pub version: String,
    /// `<LWM2MVersion>`, "1.0" when absent.
    pub lwm2m_version: String,
    /// The object may have several instances.
    pub multiple: bool,
    pub mandatory: bool,
    /// Sorted by id, ids unique.
    pub resources: Vec<ResourceDef>,
}

impl ObjectDef {
    pub fn resource(&self, id: u16) -> Option<&ResourceDef> {
        self.resources
            .binary_search_by_key(&id, |r| r.id)
            .ok()
            .map(|i| &self.resources[i])
    }
}

/// One `<Item>` of an object definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    pub id: u16,
    pub name: String,
    pub operations: Operations,
    pub multiple: bool,
    pub mandatory: bool,
    /// [`ResourceType::None`] for an empty `<Type>` (executable resources).
    pub kind: ResourceType,
    pub units: String,
}

/// `<Operations>` of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    /// Empty: no operation (e.g. a resource only used inside others).
    None,
    Read,
    Write,
    ReadWrite,
    Execute,
}

/// Where in the DDF text a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdfPos {
    pub line: u32,
    pub column: u32,
    /// The ObjectID of the enclosing object, once known.
    pub object: Option<u16>,
    /// The ID of the enclosing `<Item>`, once known.
    pub resource: Option<u16>,
}

impl fmt::Display for DdfPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)?;
        match (self.object, self.resource) {
            (Some(o), Some(r)) => write!(f, " (object {o}, resource {r})"),
            (Some(o), None) => write!(f, " (object {o})"),
            (None, Some(r)) => write!(f, " (resource {r})"),
            (None, None) => Ok(()),
        }
    }
}

/// Why a DDF text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdfError {
    #[error("DDF is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("root element is <{0}>, expected <LWM2M>")]
    NotDdf(String),
    #[error("no <Object> in <LWM2M>")]
    NoObject,
    #[error("{at}: missing <{field}>")]
    Missing { at: DdfPos, field: &'static str },
    #[error("{at}: <{field}> appears more than once")]
    Repeated { at: DdfPos, field: &'static str },
    #[error("{at}: {field} {value:?} is invalid, expected {expected}")]
    Invalid {
        at: DdfPos,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{at}: resource {id} is defined twice")]
    DuplicateResource { at: DdfPos, id: u16 },
}

/// Parses the object definitions of one DDF text.
pub fn parse_ddf(xml: &str) -> Result<Vec<ObjectDef>, DdfError> {
    if xml.len() > MAX_DDF_BYTES {
        return Err(DdfError::TooLarge {
            len: xml.len(),
            max: MAX_DDF_BYTES,
        });
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(xml, options).map_err(|e| DdfError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "LWM2M" {
        return Err(DdfError::NotDdf(clip(root.tag_name().name())));
    }
    let objects: Vec<ObjectDef> = elements(root, "Object")
        .map(|o| object(&doc, o))
        .collect::<Result<_, _>>()?;
    if objects.is_empty() {
        return Err(DdfError::NoObject);
    }
    Ok(objects)
}

/// Reading context: the document (for positions) and the ids known so far.
#[derive(Clone, Copy)]
struct Ctx<'a, 'input> {
    doc: &'a Document<'input>,
    object: Option<u16>,
    resource: Option<u16>,
}

impl Ctx<'_, '_> {
    fn pos(&self, node: Node) -> DdfPos {
        let p = self.doc.text_pos_at(node.range().start);
        DdfPos {
            line: p.row,
            column: p.col,
            object: self.object,
            resource: self.resource,
        }
    }

    /// The trimmed text of the one child element `name`; `None` if absent.
    fn optional(&self, parent: Node, name: &'static str) -> Result<Option<String>, DdfError> {
        let mut found = elements(parent, name);
        let Some(first) = found.next() else {
            return Ok(None);
        };
        if let Some(second) = found.next() {
            return Err(DdfError::Repeated {
                at: self.pos(second),
                field: name,
            });
        }
        let text: String = first
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        Ok(Some(text.trim().to_string()))
    }

    fn required(&self, parent: Node, name: &'static str) -> Result<String, DdfError> {
        self.optional(parent, name)?.ok_or(DdfError::Missing {
            at: self.pos(parent),
            field: name,
        })
    }

    fn invalid(
        &self,
        node: Node,
        field: &'static str,
        value: &str,
        expected: &'static str,
    ) -> DdfError {
        DdfError::Invalid {
            at: self.pos(node),
            field,
            value: clip(value),
            expected,
        }
    }

    /// A `Single`/`Multiple` field.
    fn multiple(&self, parent: Node) -> Result<bool, DdfError> {
        match self.required(parent, "MultipleInstances")?.as_str() {
            "Single" => Ok(false),
            "Multiple" => Ok(true),
            other => Err(self.invalid(parent, "MultipleInstances", other, "Single or Multiple")),
        }
    }

    /// A `Mandatory`/`Optional` field, optional itself ("Optional" when absent).
    fn mandatory(&self, parent: Node) -> Result<bool, DdfError> {
        match self.optional(parent, "Mandatory")?.as_deref() {
            None | Some("Optional") => Ok(false),
            Some("Mandatory") => Ok(true),
            Some(other) => Err(self.invalid(parent, "Mandatory", other, "Mandatory or Optional")),
        }
    }
}

fn object(doc: &Document, node: Node) -> Result<ObjectDef, DdfError> {
    let mut ctx = Ctx {
        doc,
        object: None,
        resource: None,
    };
    let id_text = ctx.required(node, "ObjectID")?;
    let id = parse_id(&id_text)
        .ok_or_else(|| ctx.invalid(node, "ObjectID", &id_text, "an integer 0..=65535"))?;
    ctx.object = Some(id);
    let name = ctx.required(node, "Name")?;
    let version = parse_version(&ctx, node, "ObjectVersion")?;
    let lwm2m_version = parse_version(&ctx, node, "LWM2MVersion")?;
    let multiple = ctx.multiple(node)?;
    let mandatory = ctx.mandatory(node)?;
    let mut list = elements(node, "Resources");
    let Some(resources_node) = list.next() else {
        return Err(DdfError::Missing {
            at: ctx.pos(node),
            field: "Resources",
        });
    };
    if let Some(second) = list.next() {
        return Err(DdfError::Repeated {
            at: ctx.pos(second),
            field: "Resources",
        });
    }
    let mut resources: Vec<ResourceDef> = Vec::new();
    for item in elements(resources_node, "Item") {
        let r = resource(ctx, item)?;
        if resources.iter().any(|d| d.id == r.id) {
            return Err(DdfError::DuplicateResource {
                at: ctx.pos(item),
                id: r.id,
            });
        }
        resources.push(r);
    }
    resources.sort_by_key(|r| r.id);
    Ok(ObjectDef {
        id,
        name,
        version,
        lwm2m_version,
        multiple,
        mandatory,
        resources,
    })
}

fn resource(mut ctx: Ctx, item: Node) -> Result<ResourceDef, DdfError> {
    let id_text = item.attribute("ID").ok_or(DdfError::Missing {
        at: ctx.pos(item),
        field: "Item ID attribute",
    })?;
    let id = parse_id(id_text.trim())
        .ok_or_else(|| ctx.invalid(item, "Item ID", id_text, "an integer 0..=65535"))?;
    ctx.resource = Some(id);
    let name = ctx.required(item, "Name")?;
    let operations = match ctx.required(item, "Operations")?.as_str() {
        "" => Operations::None,
        "R" => Operations::Read,
        "W" => Operations::Write,
        "RW" => Operations::ReadWrite,
        "E" => Operations::Execute,
        other => return Err(ctx.invalid(item, "Operations", other, "R, W, RW, E or empty")),
    };
    let type_text = ctx.required(item, "Type")?;
    let kind = resource_type(&type_text).ok_or_else(|| {
        ctx.invalid(
            item,
            "Type",
            &type_text,
            "String, Integer, Unsigned Integer, Float, Boolean, Opaque, Time, Objlnk, Corelnk or empty",
        )
    })?;
    Ok(ResourceDef {
        id,
        name,
        operations,
        multiple: ctx.multiple(item)?,
        mandatory: ctx.mandatory(item)?,
        kind,
        units: ctx.optional(item, "Units")?.unwrap_or_default(),
    })
}

/// The data types of the registry (TS 1.1 Core Appendix C).
fn resource_type(s: &str) -> Option<ResourceType> {
    Some(match s {
        "String" | "Corelnk" => ResourceType::String,
        "Integer" => ResourceType::Integer,
        "Unsigned Integer" => ResourceType::Unsigned,
        "Float" => ResourceType::Float,
        "Boolean" => ResourceType::Boolean,
        "Opaque" => ResourceType::Opaque,
        "Time" => ResourceType::Time,
        "Objlnk" => ResourceType::ObjLnk,
        "" => ResourceType::None,
        _ => return None,
    })
}

/// `"major.minor"`, "1.0" when the element is absent or empty.
fn parse_version(ctx: &Ctx, node: Node, field: &'static str) -> Result<String, DdfError> {
    match ctx.optional(node, field)? {
        None => Ok("1.0".into()),
        Some(v) if v.is_empty() => Ok("1.0".into()),
        Some(v) => {
            let ok = v
                .split_once('.')
                .is_some_and(|(a, b)| parse_id(a).is_some() && parse_id(b).is_some());
            if ok {
                Ok(v)
            } else {
                Err(ctx.invalid(node, field, &v, "a version such as 1.0"))
            }
        }
    }
}

/// A decimal id of at most 5 digits that fits in u16 (xs:unsignedShort).
fn parse_id(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Child elements of `parent` with the local name `name`.
fn elements<'a, 'input: 'a>(
    parent: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    parent
        .children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// Keeps error messages short: at most 64 characters of a value.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
#[path = "ddf_tests.rs"]
mod tests;
