//! LwM2M paths: `/`, `/o`, `/o/i`, `/o/i/r`, `/o/i/r/ri`.
//!
//! LwM2M TS 1.1 Core §7.1 (resource model) and §6.1 (URI path): each level
//! is a 16-bit unsigned identifier. The root `/` is kept for composite
//! operations (Core TS 1.1 §6.3.8).

use std::fmt;

use super::ContentError;

/// An LwM2M path of 0 (root) to 4 identifiers.
///
/// Ordering is depth-first: a path sorts right before its descendants and
/// siblings sort by id (`/3 < /3/0 < /3/0/1 < /3/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// Invariant: no `Some` after a `None`.
    ids: [Option<u16>; 4],
}

impl Path {
    /// The root path `/`.
    pub const ROOT: Path = Path { ids: [None; 4] };

    /// Parses `/`, `/3`, `/3/0`, `/3/0/1` or `/3/0/11/0`. Segments must be
    /// plain decimal numbers in 0..=65535; empty segments, a trailing slash
    /// (except for the root) and more than four segments are rejected.
    pub fn parse(s: &str) -> Result<Path, ContentError> {
        if s == "/" {
            return Ok(Path::ROOT);
        }
        let invalid = |reason| ContentError::InvalidPath {
            input: truncate(s),
            reason,
        };
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| invalid("must start with '/'"))?;
        let mut ids = [None; 4];
        for (n, seg) in rest.split('/').enumerate() {
            let slot = ids
                .get_mut(n)
                .ok_or_else(|| invalid("more than four segments"))?;
            if seg.is_empty() {
                return Err(invalid("empty segment"));
            }
            if !seg.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("segment is not a decimal number"));
            }
            *slot = Some(seg.parse().map_err(|_| invalid("segment exceeds 65535"))?);
        }
        Ok(Path { ids })
    }

    pub fn new_object(o: u16) -> Path {
        Path {
            ids: [Some(o), None, None, None],
        }
    }
    pub fn new_instance(o: u16, i: u16) -> Path {
        Path {
            ids: [Some(o), Some(i), None, None],
        }
    }
    pub fn new_resource(o: u16, i: u16, r: u16) -> Path {
        Path {
            ids: [Some(o), Some(i), Some(r), None],
        }
    }
    pub fn new_resource_instance(o: u16, i: u16, r: u16, ri: u16) -> Path {
        Path {
            ids: [Some(o), Some(i), Some(r), Some(ri)],
        }
    }

    pub fn object(&self) -> Option<u16> {
        self.ids[0]
    }
    pub fn instance(&self) -> Option<u16> {
        self.ids[1]
    }
    pub fn resource(&self) -> Option<u16> {
        self.ids[2]
    }
    pub fn resource_instance(&self) -> Option<u16> {
        self.ids[3]
    }

    /// Number of identifiers: 0 for `/`, 4 for a resource instance.
    pub fn depth(&self) -> usize {
        self.ids.iter().take_while(|x| x.is_some()).count()
    }

    pub fn is_root(&self) -> bool {
        self.ids[0].is_none()
    }

    /// Whether `other` is `self` or lies below it (the root is a prefix of
    /// every path).
    pub fn is_prefix_of(&self, other: &Path) -> bool {
        self.ids
            .iter()
            .zip(other.ids.iter())
            .all(|(a, b)| a.is_none() || a == b)
    }

    /// The identifiers from the object down.
    pub fn segments(&self) -> Vec<u16> {
        self.ids.iter().map_while(|x| *x).collect()
    }

    /// The path one level deeper, `None` below a resource instance.
    pub fn child(&self, id: u16) -> Option<Path> {
        let mut ids = self.ids;
        *ids.get_mut(self.depth())? = Some(id);
        Some(Path { ids })
    }

    /// The enclosing path, `None` for the root.
    pub fn parent(&self) -> Option<Path> {
        let mut ids = self.ids;
        *ids.get_mut(self.depth().checked_sub(1)?)? = None;
        Some(Path { ids })
    }
}

/// Keeps error messages bounded when the offending input came off the wire.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str("/");
        }
        for id in self.ids.iter().map_while(|x| *x) {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Path {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Path, ContentError> {
        Path::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_all_depths() {
        assert_eq!(Path::parse("/").unwrap(), Path::ROOT);
        assert_eq!(Path::parse("/3").unwrap(), Path::new_object(3));
        assert_eq!(Path::parse("/3/0").unwrap(), Path::new_instance(3, 0));
        assert_eq!(Path::parse("/3/0/1").unwrap(), Path::new_resource(3, 0, 1));
        let p = Path::parse("/3/0/11/65535").unwrap();
        assert_eq!(p, Path::new_resource_instance(3, 0, 11, 65535));
        assert_eq!(
            (
                p.object(),
                p.instance(),
                p.resource(),
                p.resource_instance()
            ),
            (Some(3), Some(0), Some(11), Some(65535))
        );
        assert_eq!(p.segments(), vec![3, 0, 11, 65535]);
        assert_eq!(p.depth(), 4);
        assert_eq!(Path::ROOT.segments(), Vec::<u16>::new());
    }

    #[test]
    fn rejects_bad_paths() {
        let reason = |s: &str| match Path::parse(s) {
            Err(ContentError::InvalidPath { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(reason(""), "must start with '/'");
        assert_eq!(reason("3/0"), "must start with '/'");
        assert_eq!(reason("/a"), "segment is not a decimal number");
        assert_eq!(reason("/+3"), "segment is not a decimal number");
        assert_eq!(reason("/3//1"), "empty segment");
        assert_eq!(reason("/3/"), "empty segment");
        assert_eq!(reason("//"), "empty segment");
        assert_eq!(reason("/1/2/3/4/5"), "more than four segments");
        assert_eq!(reason("/65536"), "segment exceeds 65535");
    }

    #[test]
    fn prefix_order_and_navigation() {
        let inst = Path::new_instance(3, 0);
        assert!(Path::ROOT.is_prefix_of(&inst));
        assert!(inst.is_prefix_of(&inst));
        assert!(inst.is_prefix_of(&Path::new_resource(3, 0, 1)));
        assert!(!inst.is_prefix_of(&Path::new_resource(3, 1, 1)));
        assert!(!inst.is_prefix_of(&Path::new_object(3)));
        assert!(
            Path::new_object(3) < inst
                && inst < Path::new_resource(3, 0, 0)
                && Path::new_resource(3, 0, 9) < Path::new_instance(3, 1)
        );
        assert_eq!(inst.child(7), Some(Path::new_resource(3, 0, 7)));
        assert_eq!(Path::new_resource_instance(1, 2, 3, 4).child(5), None);
        assert_eq!(inst.parent(), Some(Path::new_object(3)));
        assert_eq!(Path::ROOT.parent(), None);
        assert_eq!(
            Path::new_resource_instance(3, 0, 11, 2).to_string(),
            "/3/0/11/2"
        );
        assert_eq!(Path::ROOT.to_string(), "/");
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(ids in proptest::collection::vec(any::<u16>(), 0..=4)) {
            let p = ids.iter().try_fold(Path::ROOT, |p, id| p.child(*id)).unwrap();
            prop_assert_eq!(p.segments(), ids);
            prop_assert_eq!(Path::parse(&p.to_string()).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(s in "\\PC*", t in "[/0-9a]{0,24}") {
            let _ = Path::parse(&s);
            if let Ok(p) = Path::parse(&t) { prop_assert_eq!(Path::parse(&p.to_string()).unwrap(), p); }
        }
    }
}
