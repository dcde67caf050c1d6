//! RFC 6690 §2 link-format parser.
//!
//! Grammar accepted (RFC 6690 §2, with RFC 5987 parameter names):
//! `link-value *( "," link-value )`, `link-value = "<" target ">" *( ";" param )`,
//! `param = parmname [ "=" ( ptoken / quoted-string ) ]`. As real LwM2M
//! clients do send `</1/0>, </3/0>` or one link per line, optional whitespace
//! is accepted around `,` and `;` and at both ends. Targets must be absolute
//! paths (`/...`), which is all LwM2M uses.

use super::{is_parmname_char, is_ptoken_char, Link, LinkError, MAX_INPUT_LEN, MAX_LINKS};

/// Parses an RFC 6690 payload. An empty (or all-whitespace) payload is zero
/// links. Input longer than [`MAX_INPUT_LEN`] or with more than [`MAX_LINKS`]
/// links is refused.
pub fn parse_link_format(input: &str) -> Result<Vec<Link>, LinkError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(LinkError::TooLarge {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    let mut cur = Cursor { s: input, pos: 0 };
    let mut links = Vec::new();
    cur.skip_ws();
    if cur.peek().is_none() {
        return Ok(links);
    }
    loop {
        if links.len() >= MAX_LINKS {
            return Err(LinkError::TooManyLinks { max: MAX_LINKS });
        }
        links.push(cur.link()?);
        cur.skip_ws();
        match cur.peek() {
            None => return Ok(links),
            Some(',') => {
                cur.bump(',');
                cur.skip_ws();
                if cur.peek().is_none() {
                    return Err(LinkError::TrailingComma { pos: cur.pos });
                }
            }
            Some(found) => {
                return Err(LinkError::UnexpectedChar {
                    pos: cur.pos,
                    found,
                    expected: "',' or ';' or end of input",
                })
            }
        }
    }
}

/// A position in the input. `pos` always sits on a char boundary because it
/// only ever advances by whole chars.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_ascii_whitespace()) {
            self.bump(c);
        }
    }

    /// `"<" target ">" *( ";" param )`.
    fn link(&mut self) -> Result<Link, LinkError> {
        let start = self.pos;
        match self.peek() {
            Some('<') => self.bump('<'),
            Some(found) => return Err(LinkError::MissingLinkStart { pos: start, found }),
            None => return Err(LinkError::TrailingComma { pos: start }),
        }
        let body = self.rest();
        let end = body
            .find('>')
            .ok_or(LinkError::UnterminatedTarget { pos: start })?;
        let target = body.get(..end).unwrap_or("");
        if target.is_empty() {
            return Err(LinkError::EmptyTarget { pos: start });
        }
        if let Some((off, found)) = target
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control() || *c == '<' || *c == '"')
        {
            return Err(LinkError::InvalidTargetChar {
                pos: self.pos + off,
                found,
            });
        }
        if !target.starts_with('/') {
            return Err(LinkError::RelativeTarget {
                pos: start,
                target: target.into(),
            });
        }
        let mut link = Link {
            target: target.to_string(),
            attributes: Vec::new(),
        };
        self.pos += end + 1;
        loop {
            self.skip_ws();
            if self.peek() != Some(';') {
                return Ok(link);
            }
            self.bump(';');
            self.skip_ws();
            link.attributes.push(self.param()?);
        }
    }

    /// `parmname [ "=" ( ptoken / quoted-string ) ]`.
    fn param(&mut self) -> Result<(String, Option<String>), LinkError> {
        let name = self.take_while(is_parmname_char);
        if name.is_empty() {
            return Err(LinkError::MissingParamName { pos: self.pos });
        }
        if self.peek() != Some('=') {
            return Ok((name, None));
        }
        self.bump('=');
        let value = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let pos = self.pos;
            let v = self.take_while(is_ptoken_char);
            if v.is_empty() {
                return Err(LinkError::EmptyValue { pos, name });
            }
            v
        };
        Ok((name, Some(value)))
    }

    fn take_while(&mut self, pred: fn(char) -> bool) -> String {
        let rest = self.rest();
        let len = rest.find(|c| !pred(c)).unwrap_or(rest.len());
        let out = rest.get(..len).unwrap_or("").to_string();
        self.pos += len;
        out
    }

    /// RFC 7230 quoted-string: `DQUOTE *( qdtext / "\" CHAR ) DQUOTE`.
    fn quoted(&mut self) -> Result<String, LinkError> {
        let start = self.pos;
        self.bump('"');
        let mut out = String::new();
        let mut chars = self.rest().chars();
        let mut used = 0;
        loop {
            let c = chars
                .next()
                .ok_or(LinkError::UnterminatedQuote { pos: start })?;
            used += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    let e = chars
                        .next()
                        .ok_or(LinkError::UnterminatedQuote { pos: start })?;
                    used += e.len_utf8();
                    out.push(e);
                }
                c => out.push(c),
            }
        }
        self.pos += used;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::format_links;
    use proptest::prelude::*;

    fn attrs(l: &Link) -> Vec<(&str, Option<&str>)> {
        l.attributes
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_deref()))
            .collect()
    }

    #[test]
    fn parses_typical_register_payload() {
        let links =
            parse_link_format("</>;rt=\"oma.lwm2m\";ct=110, </1/0>,\n</3/0>;ver=1.1,</5>;obs")
                .unwrap();
        assert_eq!(links.len(), 4);
        assert_eq!(links[0].target, "/");
        assert_eq!(
            attrs(&links[0]),
            vec![("rt", Some("oma.lwm2m")), ("ct", Some("110"))]
        );
        assert_eq!(links[1].target, "/1/0");
        assert!(links[1].attributes.is_empty());
        assert_eq!(attrs(&links[2]), vec![("ver", Some("1.1"))]);
        assert_eq!(attrs(&links[3]), vec![("obs", None)]);
    }

    #[test]
    fn whitespace_and_empty_payloads() {
        assert_eq!(parse_link_format("").unwrap(), vec![]);
        assert_eq!(parse_link_format(" \r\n ").unwrap(), vec![]);
        let links = parse_link_format("  </1/0> ; ver = 1").unwrap_err();
        assert_eq!(
            links,
            LinkError::UnexpectedChar {
                pos: 15,
                found: '=',
                expected: "',' or ';' or end of input"
            }
        );
        let links = parse_link_format(" </1/0> ;ver=\"1.0\" ,\t</2>\n").unwrap();
        assert_eq!(links[0].attribute("ver"), Some("1.0"));
        assert_eq!(links[1].target, "/2");
    }

    #[test]
    fn quoted_strings_unescape() {
        let l = parse_link_format(r#"</a>;t="x\"y\\z,;é";u="""#).unwrap();
        assert_eq!(l[0].attribute("t"), Some("x\"y\\z,;é"));
        assert_eq!(l[0].attribute("u"), Some(""));
    }

    #[test]
    fn rejects_malformed_input() {
        use LinkError::*;
        let err = |s: &str| parse_link_format(s).unwrap_err();
        assert_eq!(err("</1"), UnterminatedTarget { pos: 0 });
        assert_eq!(err("/1>"), MissingLinkStart { pos: 0, found: '/' });
        assert_eq!(err("<>"), EmptyTarget { pos: 0 });
        assert_eq!(
            err("<1/0>"),
            RelativeTarget {
                pos: 0,
                target: "1/0".into()
            }
        );
        assert_eq!(err("</1 0>"), InvalidTargetChar { pos: 3, found: ' ' });
        assert_eq!(err("</1>;v=\"abc"), UnterminatedQuote { pos: 7 });
        assert_eq!(err("</1>;v=\"abc\\"), UnterminatedQuote { pos: 7 });
        assert_eq!(err("</1>;;a"), MissingParamName { pos: 5 });
        assert_eq!(err("</1>;=a"), MissingParamName { pos: 5 });
        assert_eq!(
            err("</1>;a="),
            EmptyValue {
                pos: 7,
                name: "a".into()
            }
        );
        assert_eq!(err("</1>,"), TrailingComma { pos: 5 });
        assert_eq!(err("</1>,,</2>"), MissingLinkStart { pos: 5, found: ',' });
        assert_eq!(err(",</2>"), MissingLinkStart { pos: 0, found: ',' });
        assert_eq!(
            err("</1></2>"),
            UnexpectedChar {
                pos: 4,
                found: '<',
                expected: "',' or ';' or end of input"
            }
        );
        assert_eq!(
            err("</1>;a=\"x\"y"),
            UnexpectedChar {
                pos: 10,
                found: 'y',
                expected: "',' or ';' or end of input"
            }
        );
    }

    #[test]
    fn enforces_limits() {
        let big = " ".repeat(MAX_INPUT_LEN + 1);
        assert_eq!(
            parse_link_format(&big).unwrap_err(),
            LinkError::TooLarge {
                len: MAX_INPUT_LEN + 1,
                max: MAX_INPUT_LEN
            }
        );
        let many = vec!["</1>"; MAX_LINKS + 1].join(",");
        assert_eq!(
            parse_link_format(&many).unwrap_err(),
            LinkError::TooManyLinks { max: MAX_LINKS }
        );
        let ok = vec!["</1>"; MAX_LINKS].join(",");
        assert_eq!(parse_link_format(&ok).unwrap().len(), MAX_LINKS);
    }

    fn arb_link() -> impl Strategy<Value = Link> {
        let target = "(/[a-z0-9._~-]{0,6}){1,4}";
        let attr = (
            "[a-z][a-z0-9!#$&+.^_`|~-]{0,5}",
            proptest::option::of("[ -~]{0,8}|\\PC{0,4}"),
        );
        (target, proptest::collection::vec(attr, 0..4))
            .prop_map(|(target, attributes)| Link { target, attributes })
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(links in proptest::collection::vec(arb_link(), 0..6)) {
            let text = format_links(&links);
            prop_assert_eq!(parse_link_format(&text).unwrap(), links);
        }

        #[test]
        fn parser_never_panics(s in "\\PC*", bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_link_format(&s);
            let _ = parse_link_format(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn parser_never_panics_on_linkish_input(s in "[<>/;,=\" \\\\a1é]{0,40}") {
            let _ = parse_link_format(&s);
        }
    }
}
