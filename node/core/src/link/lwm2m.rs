//! LwM2M reading of a Register/Update payload.
//!
//! LwM2M TS 1.1 Core §6.2.1 (Register) and Transport §5.3.1 (Core TS 1.1.1 /
//! 1.2): the payload lists the client's objects and object instances as
//! `</1/0>,</3/0>;ver=1.1,</5>`. An optional root link `</>;rt="oma.lwm2m"`
//! (or `</lwm2m>;rt="oma.lwm2m"` for an alternate root path) may carry the
//! supported content formats in `ct=`; all object links then live under that
//! root: `</lwm2m/3/0>`.

use super::{parse_link_format, Link, LinkError};

/// Resource type that marks the LwM2M root link (Core TS §6.2.1).
const LWM2M_RT: &str = "oma.lwm2m";

/// The LwM2M interpretation of a Register/Update link-format payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectLinks {
    /// `"/"` by default, or the alternate path (without trailing slash)
    /// designated by a link with `rt="oma.lwm2m"`.
    pub root_path: String,
    /// Content formats from the root link's `ct=` (`ct=110` or
    /// `ct="60 110 112"`), empty if absent.
    pub content_formats: Vec<u16>,
    /// Object and object-instance links, in received order.
    pub objects: Vec<ObjectLink>,
    /// Every parsed link as received, root link included.
    pub links: Vec<Link>,
}

/// One `</obj>` or `</obj/inst>` link (relative to the root path).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectLink {
    pub object: u16,
    pub instance: Option<u16>,
    /// The `ver=` attribute (object version, Core TS §6.2.1), if present.
    pub version: Option<String>,
    /// All attributes of the link as received (`ver` included).
    pub attributes: Vec<(String, Option<String>)>,
}

/// Whether `link` designates the LwM2M root: its `rt` (a space separated
/// list, RFC 6690 §3.1) contains `oma.lwm2m`.
fn is_root_link(link: &Link) -> bool {
    link.attributes
        .iter()
        .filter(|(n, _)| n == "rt")
        .filter_map(|(_, v)| v.as_deref())
        .any(|v| v.split_ascii_whitespace().any(|t| t == LWM2M_RT))
}

/// A strictly decimal u16 (no sign, no empty string).
fn decimal_u16(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl ObjectLinks {
    /// Parses a Register/Update payload. An empty payload (allowed for
    /// Update) yields no links and root path `"/"`.
    pub fn parse(payload: &str) -> Result<ObjectLinks, LinkError> {
        let links = parse_link_format(payload)?;
        let mut root: Option<&Link> = None;
        for link in links.iter().filter(|l| is_root_link(l)) {
            if let Some(first) = root {
                return Err(LinkError::MultipleRoots {
                    first: first.target.clone(),
                    second: link.target.clone(),
                });
            }
            root = Some(link);
        }
        let root_path = match root.map(|l| l.target.trim_end_matches('/')) {
            None | Some("") => "/".to_string(),
            Some(p) => p.to_string(),
        };
        let content_formats = match root.and_then(|l| l.attribute("ct")) {
            None => Vec::new(),
            Some(ct) => parse_ct(ct)?,
        };
        let mut objects = Vec::new();
        for link in &links {
            let target = link.target.as_str();
            if root.is_some_and(|r| std::ptr::eq(r, link))
                || target.trim_end_matches('/') == root_path.trim_end_matches('/')
            {
                continue;
            }
            let rel = if root_path == "/" {
                target.strip_prefix('/')
            } else {
                target
                    .strip_prefix(root_path.as_str())
                    .and_then(|r| r.strip_prefix('/'))
            };
            let rel = rel.ok_or_else(|| LinkError::OutsideRoot {
                target: target.to_string(),
                root: root_path.clone(),
            })?;
            objects.push(object_link(target, rel, link)?);
        }
        Ok(ObjectLinks {
            root_path,
            content_formats,
            objects,
            links,
        })
    }
}

fn parse_ct(ct: &str) -> Result<Vec<u16>, LinkError> {
    let bad = || LinkError::InvalidContentFormat {
        value: ct.to_string(),
    };
    let formats: Vec<u16> = ct
        .split_ascii_whitespace()
        .map(|v| decimal_u16(v).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    if formats.is_empty() {
        return Err(bad());
    }
    Ok(formats)
}

fn object_link(target: &str, rel: &str, link: &Link) -> Result<ObjectLink, LinkError> {
    let invalid = |reason| LinkError::InvalidObjectPath {
        target: target.to_string(),
        reason,
    };
    let mut segments = rel.split('/');
    let object = segments
        .next()
        .and_then(decimal_u16)
        .ok_or_else(|| invalid("object ID is not a decimal number in 0..=65535"))?;
    let instance = match segments.next() {
        None => None,
        Some(s) => match decimal_u16(s) {
            Some(u16::MAX) => return Err(invalid("object instance ID 65535 is reserved")),
            Some(i) => Some(i),
            None => {
                return Err(invalid(
                    "object instance ID is not a decimal number in 0..=65534",
                ))
            }
        },
    };
    if segments.next().is_some() {
        return Err(invalid("more than two path segments under the root"));
    }
    Ok(ObjectLink {
        object,
        instance,
        version: link.attribute("ver").map(str::to_string),
        attributes: link.attributes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj(
        object: u16,
        instance: Option<u16>,
        version: Option<&str>,
    ) -> (u16, Option<u16>, Option<String>) {
        (object, instance, version.map(str::to_string))
    }

    fn summary(ol: &ObjectLinks) -> Vec<(u16, Option<u16>, Option<String>)> {
        ol.objects
            .iter()
            .map(|o| (o.object, o.instance, o.version.clone()))
            .collect()
    }

    #[test]
    fn plain_register_payload() {
        let ol =
            ObjectLinks::parse("</1/0>, </3/0>;ver=\"1.1\",\n</5>;ver=1.0;obs,</3303/12>").unwrap();
        assert_eq!(ol.root_path, "/");
        assert!(ol.content_formats.is_empty());
        assert_eq!(
            summary(&ol),
            vec![
                obj(1, Some(0), None),
                obj(3, Some(0), Some("1.1")),
                obj(5, None, Some("1.0")),
                obj(3303, Some(12), None)
            ]
        );
        assert_eq!(
            ol.objects[2].attributes,
            vec![("ver".into(), Some("1.0".into())), ("obs".into(), None)]
        );
        assert_eq!(ol.links.len(), 4);
    }

    #[test]
    fn root_link_with_content_formats() {
        let ol = ObjectLinks::parse("</>;rt=\"oma.lwm2m\";ct=\"60 110 112\",</1/0>").unwrap();
        assert_eq!(ol.root_path, "/");
        assert_eq!(ol.content_formats, vec![60, 110, 112]);
        assert_eq!(summary(&ol), vec![obj(1, Some(0), None)]);
        assert_eq!(ol.links.len(), 2);
        let ol = ObjectLinks::parse("</>;rt=oma.lwm2m;ct=110").unwrap();
        assert_eq!(ol.content_formats, vec![110]);
        assert!(ol.objects.is_empty());
    }

    #[test]
    fn alternate_root_path() {
        let ol = ObjectLinks::parse(
            "</lwm2m>;rt=\"core.rd oma.lwm2m\";ct=11543,</lwm2m/1/0>,</lwm2m/3/0>",
        )
        .unwrap();
        assert_eq!(ol.root_path, "/lwm2m");
        assert_eq!(ol.content_formats, vec![11543]);
        assert_eq!(
            summary(&ol),
            vec![obj(1, Some(0), None), obj(3, Some(0), None)]
        );
        let err = ObjectLinks::parse("</lwm2m>;rt=\"oma.lwm2m\",</1/0>").unwrap_err();
        assert_eq!(
            err,
            LinkError::OutsideRoot {
                target: "/1/0".into(),
                root: "/lwm2m".into()
            }
        );
        let err = ObjectLinks::parse("</lwm2m>;rt=\"oma.lwm2m\",</lwm2mx/1>").unwrap_err();
        assert_eq!(
            err,
            LinkError::OutsideRoot {
                target: "/lwm2mx/1".into(),
                root: "/lwm2m".into()
            }
        );
    }

    #[test]
    fn empty_payload_is_ok() {
        let ol = ObjectLinks::parse("").unwrap();
        assert_eq!(
            ol,
            ObjectLinks {
                root_path: "/".into(),
                content_formats: vec![],
                objects: vec![],
                links: vec![]
            }
        );
    }

    #[test]
    fn rejects_bad_lwm2m_links() {
        let reason = |s: &str| match ObjectLinks::parse(s).unwrap_err() {
            LinkError::InvalidObjectPath { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            reason("</a/0>"),
            "object ID is not a decimal number in 0..=65535"
        );
        assert_eq!(
            reason("</65536>"),
            "object ID is not a decimal number in 0..=65535"
        );
        assert_eq!(
            reason("</3/0/1>"),
            "more than two path segments under the root"
        );
        assert_eq!(reason("</3/65535>"), "object instance ID 65535 is reserved");
        assert_eq!(
            reason("</3/+1>"),
            "object instance ID is not a decimal number in 0..=65534"
        );
        assert_eq!(
            reason("</3//>"),
            "object instance ID is not a decimal number in 0..=65534"
        );
        assert_eq!(
            ObjectLinks::parse("</>;rt=\"oma.lwm2m\";ct=\"110 abc\"").unwrap_err(),
            LinkError::InvalidContentFormat {
                value: "110 abc".into()
            }
        );
        assert_eq!(
            ObjectLinks::parse("</>;rt=\"oma.lwm2m\";ct=\" \"").unwrap_err(),
            LinkError::InvalidContentFormat { value: " ".into() }
        );
        assert_eq!(
            ObjectLinks::parse("</a>;rt=oma.lwm2m,</b>;rt=oma.lwm2m").unwrap_err(),
            LinkError::MultipleRoots {
                first: "/a".into(),
                second: "/b".into()
            }
        );
        assert!(matches!(
            ObjectLinks::parse("</1/0>,"),
            Err(LinkError::TrailingComma { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*", t in "[</>;,=\"a-z0-9 .]{0,40}") {
            let _ = ObjectLinks::parse(&s);
            let _ = ObjectLinks::parse(&t);
        }

        #[test]
        fn generated_payloads_parse(objs in proptest::collection::vec((any::<u16>(), proptest::option::of(0u16..65535)), 0..20), alt in any::<bool>()) {
            let root = if alt { "/rd" } else { "" };
            let mut parts = vec![format!("<{}/>;rt=\"oma.lwm2m\";ct=110", root)];
            for (o, i) in &objs {
                parts.push(match i { Some(i) => format!("<{root}/{o}/{i}>"), None => format!("<{root}/{o}>") });
            }
            let ol = ObjectLinks::parse(&parts.join(", ")).unwrap();
            prop_assert_eq!(ol.root_path, if alt { "/rd" } else { "/" });
            prop_assert_eq!(ol.content_formats, vec![110]);
            let got: Vec<_> = ol.objects.iter().map(|o| (o.object, o.instance)).collect();
            prop_assert_eq!(got, objs);
        }
    }
}
