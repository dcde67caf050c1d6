//! The node's object model: the built-in OMA core objects 0–7 and common IPSO objects, plus the
//! OMA LwM2M object definition (DDF) files of `--object-dir` (the XML form of the OMA LwM2M Object
//! and Resource Registry; data types of LwM2M TS 1.1 Core Appendix C).
//!
//! Every `*.xml` file of the directory is read at start, in file-name order, so that of two files
//! defining the same object the later name wins; a definition replaces the built-in object with
//! the same id. A file that cannot be read or parsed stops the node with an error naming it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use lwm2m_core::content::{parse_ddf, ModelRegistry, MAX_DDF_BYTES};

/// The built-in objects plus those of `dir`, if given.
pub fn load(dir: Option<&Path>) -> anyhow::Result<ModelRegistry> {
    let mut model = ModelRegistry::default();
    let Some(dir) = dir else {
        return Ok(model);
    };
    for file in ddf_files(dir)? {
        let size = std::fs::metadata(&file)
            .with_context(|| format!("object definition {}", file.display()))?
            .len();
        if size > MAX_DDF_BYTES as u64 {
            bail!(
                "object definition {}: {size} bytes, more than the limit of {MAX_DDF_BYTES}",
                file.display()
            );
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("read object definition {}", file.display()))?;
        let defs =
            parse_ddf(&text).with_context(|| format!("object definition {}", file.display()))?;
        for d in &defs {
            let replaces = model.object_name(d.id).map(str::to_string);
            tracing::info!(
                file = %file.display(),
                object = d.id,
                name = %d.name,
                version = %d.version,
                resources = d.resources.len(),
                replaces = replaces.as_deref().unwrap_or(""),
                "object definition loaded"
            );
        }
        model.add(defs);
    }
    Ok(model)
}

/// The `*.xml` files of `dir` (not its subdirectories), sorted by name.
fn ddf_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("--object-dir {}: cannot list", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("--object-dir {}", dir.display()))?;
        let path = entry.path();
        let is_xml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        if is_xml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwm2m_core::content::{ObjectModel, ResourceType};

    fn ddf(id: u16, ty: &str) -> String {
        format!(
            "<LWM2M><Object ObjectType=\"MODefinition\"><Name>Custom {id}</Name>\
             <ObjectID>{id}</ObjectID><MultipleInstances>Multiple</MultipleInstances>\
             <Resources><Item ID=\"0\"><Name>Value</Name><Operations>R</Operations>\
             <MultipleInstances>Single</MultipleInstances><Type>{ty}</Type></Item>\
             </Resources></Object></LWM2M>"
        )
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lwm2m-objects-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn loads_xml_files_in_name_order() {
        let dir = temp_dir("ok");
        std::fs::write(dir.join("a.xml"), ddf(32769, "Integer")).unwrap();
        std::fs::write(dir.join("b.XML"), ddf(32769, "String")).unwrap();
        std::fs::write(dir.join("c.xml"), ddf(3303, "Boolean")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a DDF").unwrap();
        std::fs::create_dir(dir.join("sub.xml")).unwrap();
        let m = load(Some(&dir)).unwrap();
        assert_eq!(m.resource_type(32769, 0), Some(ResourceType::String));
        assert_eq!(m.resource_type(3303, 0), Some(ResourceType::Boolean));
        assert_eq!(m.resource_type(3, 9), Some(ResourceType::Integer));
        let _ = std::fs::remove_dir_all(&dir);
        // Without a directory: the built-in objects.
        let m = load(None).unwrap();
        assert!(m.knows(3304) && !m.knows(32769));
    }

    #[test]
    fn a_bad_file_is_named() {
        let dir = temp_dir("bad");
        std::fs::write(dir.join("good.xml"), ddf(32769, "Integer")).unwrap();
        std::fs::write(dir.join("broken.xml"), ddf(32770, "Integr")).unwrap();
        let e = format!("{:#}", load(Some(&dir)).unwrap_err());
        assert!(e.contains("broken.xml"), "{e}");
        assert!(e.contains("Type \"Integr\" is invalid"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
        let e = format!("{:#}", load(Some(&dir)).unwrap_err());
        assert!(e.contains("cannot list"), "{e}");
    }

    #[test]
    fn oversized_and_empty_directories() {
        let dir = temp_dir("big");
        let big = format!("{}{}", ddf(32769, "Integer"), " ".repeat(MAX_DDF_BYTES));
        std::fs::write(dir.join("big.xml"), big).unwrap();
        let e = format!("{:#}", load(Some(&dir)).unwrap_err());
        assert!(
            e.contains("big.xml") && e.contains("more than the limit"),
            "{e}"
        );
        std::fs::remove_file(dir.join("big.xml")).unwrap();
        // An empty directory is fine: the built-in objects only.
        let m = load(Some(&dir)).unwrap();
        assert_eq!(m.added_ids().count(), 0);
        assert!(m.knows(3) && m.knows(3303));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
