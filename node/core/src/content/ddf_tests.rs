use super::*;
use proptest::prelude::*;

/// Temperature 3303 version 1.1 in the registry's layout (abridged descriptions).
const TEMPERATURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- BSD-3 Clause License -->
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M.xsd">
  <Object ObjectType="MODefinition">
    <Name>Temperature</Name>
    <Description1>This IPSO object should be used with a temperature sensor.</Description1>
    <ObjectID>3303</ObjectID>
    <ObjectURN>urn:oma:lwm2m:ext:3303:1.1</ObjectURN>
    <LWM2MVersion>1.0</LWM2MVersion>
    <ObjectVersion>1.1</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>Float</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>Last or Current Measured Value from the Sensor.</Description></Item>
      <Item ID="5601"><Name>Min Measured Value</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Float</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>The minimum value measured by the sensor since power ON or reset.</Description></Item>
      <Item ID="5701"><Name>Sensor Units</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>String</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>Measurement Units Definition.</Description></Item>
      <Item ID="5605"><Name>Reset Min and Max Measured Values</Name><Operations>E</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type></Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>Reset the Min and Max Measured Values to Current Value.</Description></Item>
      <Item ID="5750"><Name>Application Type</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>String</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>The application type of the sensor or actuator as a string.</Description></Item>
      <Item ID="5518"><Name>Timestamp</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Time</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>The timestamp of when the measurement was performed.</Description></Item>
    </Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"#;

/// A vendor object in the private range, as a vendor might write it.
pub(crate) const METER: &str = "\u{feff}<?xml version=\"1.0\"?>
<LWM2M>
  <Object ObjectType=\"MODefinition\">
    <Name>Water Meter</Name>
    <ObjectID>32769</ObjectID>
    <MultipleInstances>Single</MultipleInstances>
    <Mandatory>Mandatory</Mandatory>
    <Resources>
      <Item ID=\"0\"><Name>Volume</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>Integer</Type><Units>l</Units></Item>
      <Item ID=\"1\"><Name>Label</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>String</Type></Item>
      <Item ID=\"2\"><Name>History</Name><Operations>R</Operations>
        <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Unsigned Integer</Type></Item>
      <Item ID=\"3\"><Name>Links</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Type>Corelnk</Type></Item>
      <Item ID=\"4\"><Name>Server</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Type>Objlnk</Type></Item>
      <Item ID=\"5\"><Name>Valve Open</Name><Operations>W</Operations>
        <MultipleInstances>Single</MultipleInstances><Type>Boolean</Type></Item>
      <Item ID=\"6\"><Name>Blob</Name><Operations></Operations>
        <MultipleInstances>Single</MultipleInstances><Type>Opaque</Type></Item>
    </Resources>
  </Object>
</LWM2M>";

#[test]
fn parses_registry_style_temperature() {
    let defs = parse_ddf(TEMPERATURE).unwrap();
    assert_eq!(defs.len(), 1);
    let d = &defs[0];
    assert_eq!((d.id, d.name.as_str()), (3303, "Temperature"));
    assert_eq!(
        (d.version.as_str(), d.lwm2m_version.as_str()),
        ("1.1", "1.0")
    );
    assert!(d.multiple && !d.mandatory);
    let ids: Vec<u16> = d.resources.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![5518, 5601, 5605, 5700, 5701, 5750]);
    let v = d.resource(5700).unwrap();
    assert_eq!(v.name, "Sensor Value");
    assert_eq!(v.kind, ResourceType::Float);
    assert_eq!(v.operations, Operations::Read);
    assert!(v.mandatory && !v.multiple);
    let reset = d.resource(5605).unwrap();
    assert_eq!(
        (reset.kind, reset.operations),
        (ResourceType::None, Operations::Execute)
    );
    assert_eq!(d.resource(5750).unwrap().operations, Operations::ReadWrite);
    assert_eq!(d.resource(5518).unwrap().kind, ResourceType::Time);
    assert_eq!(d.resource(5702), None);
    // The built-in IPSO table agrees with the DDF.
    use crate::content::{IpsoModel, ObjectModel};
    for r in &d.resources {
        assert_eq!(
            IpsoModel.resource_type(3303, r.id),
            Some(r.kind),
            "{}",
            r.id
        );
        assert_eq!(IpsoModel.resource_name(3303, r.id), Some(r.name.as_str()));
    }
}

#[test]
fn parses_vendor_object_with_every_type() {
    let d = parse_ddf(METER).unwrap().remove(0);
    assert_eq!((d.id, d.name.as_str()), (32769, "Water Meter"));
    assert_eq!(d.version, "1.0");
    assert!(!d.multiple && d.mandatory);
    let kinds: Vec<(ResourceType, bool)> =
        d.resources.iter().map(|r| (r.kind, r.multiple)).collect();
    assert_eq!(
        kinds,
        vec![
            (ResourceType::Integer, false),
            (ResourceType::String, false),
            (ResourceType::Unsigned, true),
            (ResourceType::String, false),
            (ResourceType::ObjLnk, false),
            (ResourceType::Boolean, false),
            (ResourceType::Opaque, false),
        ]
    );
    assert_eq!(d.resource(0).unwrap().units, "l");
    assert_eq!(d.resource(5).unwrap().operations, Operations::Write);
    assert_eq!(d.resource(6).unwrap().operations, Operations::None);
}

#[test]
fn several_objects_in_one_file() {
    let one = |id: &str| {
        format!(
            "<Object><Name>O{id}</Name><ObjectID>{id}</ObjectID>\
             <MultipleInstances>Single</MultipleInstances><Resources/></Object>"
        )
    };
    let xml = format!("<LWM2M>{}{}</LWM2M>", one("40000"), one("40001"));
    let defs = parse_ddf(&xml).unwrap();
    assert_eq!(
        defs.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![40000, 40001]
    );
    assert!(defs[0].resources.is_empty());
}

/// METER with `from` replaced by `to` (which must occur).
fn meter_with(from: &str, to: &str) -> Result<Vec<ObjectDef>, DdfError> {
    assert!(METER.contains(from), "{from}");
    parse_ddf(&METER.replacen(from, to, 1))
}

#[test]
fn malformed_definitions_are_named() {
    let e = meter_with("<ObjectID>32769</ObjectID>", "").unwrap_err();
    assert!(
        matches!(
            e,
            DdfError::Missing {
                field: "ObjectID",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.to_string(), "line 3, column 3: missing <ObjectID>");

    let e = meter_with("32769", "70000").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3, column 3: ObjectID \"70000\" is invalid, expected an integer 0..=65535"
    );
    assert!(meter_with("32769", "-1").is_err());
    assert!(meter_with("32769", "0x10").is_err());

    let e = meter_with("<Type>Integer</Type>", "<Type>Integr</Type>").unwrap_err();
    match &e {
        DdfError::Invalid {
            at, field, value, ..
        } => {
            assert_eq!((*field, value.as_str()), ("Type", "Integr"));
            assert_eq!((at.object, at.resource, at.line), (Some(32769), Some(0), 9));
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("(object 32769, resource 0)"), "{e}");

    let e = meter_with("Item ID=\"1\"", "Item ID=\"one\"").unwrap_err();
    assert!(e.to_string().contains("Item ID \"one\""), "{e}");
    let e = meter_with("Item ID=\"1\"", "Item").unwrap_err();
    assert!(
        matches!(
            e,
            DdfError::Missing {
                field: "Item ID attribute",
                ..
            }
        ),
        "{e}"
    );
    let e = meter_with("Item ID=\"1\"", "Item ID=\"0\"").unwrap_err();
    assert!(
        matches!(e, DdfError::DuplicateResource { id: 0, .. }),
        "{e}"
    );
    let e = meter_with("<Operations>RW</Operations>", "<Operations>X</Operations>").unwrap_err();
    assert!(e.to_string().contains("Operations \"X\""), "{e}");
    let e = meter_with(
        "<MultipleInstances>Single</MultipleInstances>\n    <Mandatory>",
        "<MultipleInstances>Many</MultipleInstances>\n    <Mandatory>",
    )
    .unwrap_err();
    assert!(e.to_string().contains("MultipleInstances \"Many\""), "{e}");
    let e = meter_with("<Name>Volume</Name>", "").unwrap_err();
    assert!(
        matches!(&e, DdfError::Missing { field: "Name", at } if at.resource == Some(0)),
        "{e}"
    );
    let e = meter_with("<Name>Water Meter</Name>", "<Name>A</Name><Name>B</Name>").unwrap_err();
    assert!(matches!(e, DdfError::Repeated { field: "Name", .. }), "{e}");
    let e = meter_with("<Type>String</Type>", "").unwrap_err();
    assert!(matches!(e, DdfError::Missing { field: "Type", .. }), "{e}");

    assert!(matches!(
        parse_ddf("<LWM2M></LWM2M>"),
        Err(DdfError::NoObject)
    ));
    assert!(matches!(parse_ddf("<Other/>"), Err(DdfError::NotDdf(n)) if n == "Other"));
    assert!(matches!(parse_ddf(""), Err(DdfError::Xml(_))));
    assert!(matches!(
        parse_ddf("<LWM2M><Object>"),
        Err(DdfError::Xml(_))
    ));
    // DTDs (and so entity expansion) are refused.
    let dtd = "<!DOCTYPE LWM2M [<!ENTITY a \"aaaa\">]><LWM2M>&a;</LWM2M>";
    assert!(matches!(parse_ddf(dtd), Err(DdfError::Xml(_))));
}

#[test]
fn input_size_is_capped() {
    let big = format!("<LWM2M>{}</LWM2M>", " ".repeat(MAX_DDF_BYTES));
    assert_eq!(
        parse_ddf(&big),
        Err(DdfError::TooLarge {
            len: MAX_DDF_BYTES + 15,
            max: MAX_DDF_BYTES
        })
    );
}

#[test]
fn long_values_are_clipped_in_errors() {
    let e = meter_with(
        "<Type>Integer</Type>",
        &format!("<Type>{}</Type>", "x".repeat(1000)),
    )
    .unwrap_err();
    assert!(e.to_string().len() < 300, "{e}");
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = parse_ddf(&s);
    }

    #[test]
    fn never_panics_on_mutated_ddf(at in 0usize..2000, len in 0usize..40, insert in "[<>/=\"a-zA-Z0-9 ]{0,12}") {
        let mut s = METER.to_string();
        let start = s.char_indices().map(|(i, _)| i).find(|&i| i >= at.min(s.len())).unwrap_or(s.len());
        let end = s.char_indices().map(|(i, _)| i).find(|&i| i >= start + len).unwrap_or(s.len());
        s.replace_range(start..end, &insert);
        let _ = parse_ddf(&s);
    }
}
