//! CoRE link format (RFC 6690) and its LwM2M reading.
//!
//! LwM2M clients describe their objects in the payload of Register and Update
//! requests using the CoRE link format (RFC 6690 §2; LwM2M TS 1.1 Core §6.2.1,
//! Transport §5.3.1 of Core TS 1.1.1/1.2). [`parse_link_format`] turns such a
//! payload into [`Link`]s, [`format_links`] goes the other way, and
//! [`ObjectLinks::parse`] applies the LwM2M rules on top (alternate root path,
//! supported content formats, object/instance targets).
//!
//! Everything here faces the network: input is bounded ([`MAX_INPUT_LEN`],
//! [`MAX_LINKS`]) and every defect is reported as a [`LinkError`] carrying the
//! byte offset where it was found.

mod lwm2m;
mod parse;

use std::fmt;

pub use lwm2m::{ObjectLink, ObjectLinks};
pub use parse::parse_link_format;

/// Largest link-format payload accepted, in bytes (a Register payload is
/// normally a few hundred bytes; this leaves ample room without allowing
/// memory exhaustion).
pub const MAX_INPUT_LEN: usize = 64 * 1024;
/// Largest number of links accepted in one payload.
pub const MAX_LINKS: usize = 4096;

/// One link-value of RFC 6690 §2: `<target>;name=value;flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference between `<` and `>`, without the brackets.
    pub target: String,
    /// Link parameters in received order. Values are unquoted and unescaped;
    /// `None` is a flag parameter written without `=`.
    pub attributes: Vec<(String, Option<String>)>,
}

impl Link {
    /// The value of the first parameter called `name` (a flag parameter, or
    /// an absent one, yields `None`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether a parameter called `name` is present, with or without value.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|(n, _)| n == name)
    }
}

/// Errors of link-format parsing and of its LwM2M reading. Positions are
/// byte offsets into the input.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("link-format payload is {len} bytes, more than the {max} accepted")]
    TooLarge { len: usize, max: usize },
    #[error("link-format payload has more than {max} links")]
    TooManyLinks { max: usize },
    #[error("expected '<' to open a link at byte {pos}, found {found:?}")]
    MissingLinkStart { pos: usize, found: char },
    #[error("'<' at byte {pos} is never closed by '>'")]
    UnterminatedTarget { pos: usize },
    #[error("empty link target '<>' at byte {pos}")]
    EmptyTarget { pos: usize },
    #[error("link target {target:?} at byte {pos} does not start with '/'")]
    RelativeTarget { pos: usize, target: String },
    #[error("link target at byte {pos} contains forbidden character {found:?}")]
    InvalidTargetChar { pos: usize, found: char },
    #[error("expected a parameter name at byte {pos}")]
    MissingParamName { pos: usize },
    #[error("parameter {name:?} at byte {pos} has an empty value")]
    EmptyValue { pos: usize, name: String },
    #[error("quoted string starting at byte {pos} is not terminated")]
    UnterminatedQuote { pos: usize },
    #[error("unexpected {found:?} at byte {pos}, expected {expected}")]
    UnexpectedChar {
        pos: usize,
        found: char,
        expected: &'static str,
    },
    #[error("expected a link after ',' at byte {pos}, found end of input")]
    TrailingComma { pos: usize },
    #[error(
        "more than one link designates the LwM2M root (rt=\"oma.lwm2m\"): {first:?} and {second:?}"
    )]
    MultipleRoots { first: String, second: String },
    #[error("invalid content format {value:?} in ct= of the root link")]
    InvalidContentFormat { value: String },
    #[error("link {target:?} lies outside the LwM2M root path {root:?}")]
    OutsideRoot { target: String, root: String },
    #[error("link {target:?} is not an LwM2M object or object instance: {reason}")]
    InvalidObjectPath {
        target: String,
        reason: &'static str,
    },
}

/// RFC 6690 `ptokenchar`: characters allowed in an unquoted parameter value.
pub(crate) fn is_ptoken_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'()*+-./:<=>?@[]^_`{|}~".contains(c)
}

/// RFC 5987 `attr-char`: characters allowed in a parameter name.
pub(crate) fn is_parmname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c)
}

/// Parameters whose RFC 6690 grammar is a quoted string (or conventionally
/// quoted, like `rt` and `if` in LwM2M examples); always written quoted.
const QUOTED_PARAMS: [&str; 6] = ["rt", "if", "title", "anchor", "rel", "rev"];

impl fmt::Display for Link {
    /// Serialises as RFC 6690 link-value. Values are quoted when they are not
    /// a valid `ptoken` (or belong to a conventionally quoted parameter),
    /// escaping `"` and `\` as a quoted-pair.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.target)?;
        for (name, value) in &self.attributes {
            write!(f, ";{name}")?;
            let Some(value) = value else { continue };
            let bare = !value.is_empty()
                && value.chars().all(is_ptoken_char)
                && !QUOTED_PARAMS.contains(&name.as_str());
            if bare {
                write!(f, "={value}")?;
            } else {
                f.write_str("=\"")?;
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?;
            }
        }
        Ok(())
    }
}

/// Serialises links as an RFC 6690 payload, comma separated without spaces.
pub fn format_links(links: &[Link]) -> String {
    links
        .iter()
        .map(Link::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str, attrs: &[(&str, Option<&str>)]) -> Link {
        Link {
            target: target.into(),
            attributes: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn attribute_returns_first_value() {
        let l = link(
            "/3/0",
            &[("ver", Some("1.1")), ("obs", None), ("ver", Some("2.0"))],
        );
        assert_eq!(l.attribute("ver"), Some("1.1"));
        assert_eq!(l.attribute("obs"), None);
        assert!(l.has_attribute("obs"));
        assert_eq!(l.attribute("ct"), None);
        assert!(!l.has_attribute("ct"));
    }

    #[test]
    fn display_quotes_only_when_needed() {
        let l = link(
            "/",
            &[
                ("rt", Some("oma.lwm2m")),
                ("ct", Some("60 110")),
                ("ver", Some("1.1")),
                ("obs", None),
            ],
        );
        assert_eq!(
            l.to_string(),
            r#"</>;rt="oma.lwm2m";ct="60 110";ver=1.1;obs"#
        );
        let l = link("/1", &[("x", Some(r#"a"b\c"#)), ("e", Some(""))]);
        assert_eq!(l.to_string(), r#"</1>;x="a\"b\\c";e="""#);
    }

    #[test]
    fn format_links_joins_with_commas() {
        let links = [link("/1/0", &[]), link("/3/0", &[("ver", Some("1.1"))])];
        assert_eq!(format_links(&links), "</1/0>,</3/0>;ver=1.1");
        assert_eq!(format_links(&[]), "");
    }
}
