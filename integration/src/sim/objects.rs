//! The simulated device's objects and how it answers the server's Device Management requests:
//! Read, Discover, Write (replace / partial update), Write-Attributes, Execute, Create, Delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};
use lwm2m_core::coap::block::{block2, set_block2, BlockOption};
use lwm2m_core::content::{
    decode, decode_paths, encode, ContentError, ContentFormat, ModelRegistry, ObjectModel, Path,
    Record, Value,
};
use lwm2m_core::lwm2m::options::{
    content_format, response, set_content_format, uint_option, uri_path, uri_queries,
};

/// The device's state: resource values, attributes written by the server, executions seen.
#[derive(Debug, Clone)]
pub struct Objects {
    values: BTreeMap<Path, Value>,
    /// Attributes per path, as the last Write-Attributes left them.
    pub attributes: BTreeMap<Path, Vec<(String, Option<String>)>>,
    /// (path, arguments) of each Execute.
    pub executions: Vec<(String, String)>,
    /// Successful Reads.
    pub reads: usize,
    /// The object definitions the device encodes and decodes with (core and IPSO by default).
    model: Arc<ModelRegistry>,
}

/// The device's initial values. /3/0 follows the example in LwM2M TS 1.1 §7.4.3.
pub fn device_records(endpoint: &str) -> Vec<Record> {
    let d = |r: u16, v: Value| Record::new(Path::new_resource(3, 0, r), v);
    let di = |r: u16, i: u16, v: Value| Record::new(Path::new_resource_instance(3, 0, r, i), v);
    let s = |r: u16, v: Value| Record::new(Path::new_resource(1, 0, r), v);
    vec![
        s(0, Value::Integer(1)),
        s(1, Value::Integer(300)),
        s(6, Value::Boolean(false)),
        s(7, Value::String("U".into())),
        d(0, Value::String("Open Mobile Alliance".into())),
        d(1, Value::String("Lightweight M2M Client".into())),
        d(2, Value::String(format!("SN-{endpoint}"))),
        d(3, Value::String("1.0".into())),
        di(6, 0, Value::Integer(1)),
        di(6, 1, Value::Integer(5)),
        di(7, 0, Value::Integer(3800)),
        di(7, 1, Value::Integer(5000)),
        d(9, Value::Integer(100)),
        d(10, Value::Integer(15)),
        di(11, 0, Value::Integer(0)),
        d(13, Value::Time(1_367_491_215)),
        d(14, Value::String("+02:00".into())),
        d(16, Value::String("U".into())),
        Record::new(Path::new_resource(5, 0, 1), Value::String(String::new())),
        Record::new(Path::new_resource(5, 0, 3), Value::Integer(0)),
    ]
}

/// Block2 (RFC 7959 §2.4): answers larger than one block go out a block at a time; the device
/// recomputes the answer for each block request (it is stateless, as constrained clients are).
pub fn block2_slice(request: &Packet, mut answer: Packet) -> Packet {
    const DEFAULT_BLOCK: usize = 1024;
    let asked = block2(request).ok().flatten();
    if asked.is_none() && answer.payload.len() <= DEFAULT_BLOCK {
        return answer;
    }
    let (num, size) = asked
        .map(|b| (b.num, b.size().min(DEFAULT_BLOCK)))
        .unwrap_or((0, DEFAULT_BLOCK));
    let start = num as usize * size;
    if start >= answer.payload.len() && start > 0 {
        return response(0x80);
    }
    let end = (start + size).min(answer.payload.len());
    let more = end < answer.payload.len();
    let Ok(option) = BlockOption::from_size(num, more, size) else {
        return response(0x80);
    };
    answer.payload = answer.payload[start..end].to_vec();
    if set_block2(&mut answer, option).is_err() {
        return response(0x80);
    }
    answer
}

const EXECUTABLE: &[(u16, u16)] = &[(3, 4), (3, 5), (3, 12), (1, 4), (1, 8)];

impl Objects {
    pub fn new(endpoint: &str) -> Objects {
        Objects {
            values: device_records(endpoint)
                .into_iter()
                .map(|r| (r.path, r.value))
                .collect(),
            attributes: BTreeMap::new(),
            executions: Vec::new(),
            reads: 0,
            model: Arc::new(ModelRegistry::default()),
        }
    }

    /// Uses `model` to encode answers and decode requests (e.g. one that knows custom objects).
    pub fn set_model(&mut self, model: Arc<ModelRegistry>) {
        self.model = model;
    }

    /// Sets the value at a resource or resource-instance path, e.g. the initial values of an
    /// object the device also declares in its registration links.
    pub fn insert(&mut self, path: &str, value: Value) -> Result<Option<Value>, ContentError> {
        let path = Path::parse(path)?;
        if path.resource().is_none() {
            return Err(ContentError::InvalidPath {
                input: path.to_string(),
                reason: "not a resource or resource instance",
            });
        }
        Ok(self.values.insert(path, value))
    }

    pub fn value(&self, path: &str) -> Option<&Value> {
        self.values.get(&Path::parse(path).ok()?)
    }

    pub fn has_instance(&self, path: &str) -> bool {
        Path::parse(path).is_ok_and(|p| self.values.keys().any(|k| p.is_prefix_of(k)))
    }

    fn under(&self, path: &Path) -> Vec<Record> {
        self.values
            .iter()
            .filter(|(k, _)| path.is_prefix_of(k))
            .map(|(k, v)| Record::new(*k, v.clone()))
            .collect()
    }

    /// Answers one server request.
    pub fn answer(&mut self, req: &Packet) -> Packet {
        let Some(segs) = uri_path(req) else {
            return response(0x80);
        };
        let Ok(path) = Path::parse(&format!("/{}", segs.join("/"))) else {
            return response(0x80);
        };
        match req.header.code {
            MessageClass::Request(RequestType::Get) => {
                match uint_option(req, CoapOption::Accept, 2) {
                    Ok(Some(40)) => self.discover(&path),
                    Ok(accept) => self.read(&path, accept.map(|a| a as u16)),
                    Err(_) => response(0x80),
                }
            }
            MessageClass::Request(RequestType::Put) if req.payload.is_empty() => {
                self.write_attributes(&path, req)
            }
            MessageClass::Request(RequestType::Put) => self.write(&path, req, true),
            MessageClass::Request(RequestType::Post) => match path.segments().len() {
                1 => self.create(&path, req),
                2 => self.write(&path, req, false),
                3 => self.execute(&path, req),
                _ => response(0x85),
            },
            MessageClass::Request(RequestType::Fetch) if path.is_root() => self.read_composite(req),
            MessageClass::Request(RequestType::IPatch) if path.is_root() => {
                match self.decoded(&path, req) {
                    Ok(records) => {
                        for r in records {
                            self.values.insert(r.path, r.value);
                        }
                        response(0x44)
                    }
                    Err(p) => p,
                }
            }
            MessageClass::Request(RequestType::Delete) if path.segments().len() == 2 => {
                let before = self.values.len();
                self.values.retain(|k, _| !path.is_prefix_of(k));
                if self.values.len() == before {
                    response(0x84)
                } else {
                    response(0x42)
                }
            }
            _ => response(0x85),
        }
    }

    fn read(&mut self, path: &Path, accept: Option<u16>) -> Packet {
        let selected = self.under(path);
        if selected.is_empty() {
            return response(0x84);
        }
        let format = match accept.map(ContentFormat::from_code) {
            None => ContentFormat::Tlv,
            Some(Some(f)) => f,
            Some(None) => return response(0x86),
        };
        match encode(format, &selected, path, &*self.model) {
            Ok(payload) => {
                self.reads += 1;
                let mut p = response(0x45);
                set_content_format(&mut p, format.code());
                p.payload = payload;
                p
            }
            Err(_) => response(0x86),
        }
    }

    fn read_composite(&mut self, req: &Packet) -> Packet {
        let format = match content_format(req)
            .ok()
            .flatten()
            .and_then(ContentFormat::from_code)
        {
            Some(f @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => f,
            _ => return response(0x8F),
        };
        let Ok(paths) = decode_paths(format, &req.payload) else {
            return response(0x80);
        };
        let mut selected: Vec<Record> = Vec::new();
        for p in &paths {
            for r in self.under(p) {
                if !selected.contains(&r) {
                    selected.push(r);
                }
            }
        }
        match encode(format, &selected, &Path::ROOT, &*self.model) {
            Ok(payload) => {
                self.reads += 1;
                let mut p = response(0x45);
                set_content_format(&mut p, format.code());
                p.payload = payload;
                p
            }
            Err(_) => response(0x86),
        }
    }

    fn discover(&self, path: &Path) -> Packet {
        let mut paths: Vec<Path> = Vec::new();
        for k in self.values.keys().filter(|k| path.is_prefix_of(k)) {
            // Links name resources, not resource instances (TS 1.1 §5.4.2.1).
            let resource = if k.resource_instance().is_some() {
                k.parent().unwrap_or(*k)
            } else {
                *k
            };
            for p in [resource.parent().unwrap_or(resource), resource] {
                if !paths.contains(&p) && (path.is_prefix_of(&p) || p == *path) {
                    paths.push(p);
                }
            }
        }
        if paths.is_empty() {
            return response(0x84);
        }
        let links: Vec<String> = paths
            .iter()
            .map(|p| {
                let mut l = format!("<{p}>");
                let dim = self
                    .values
                    .keys()
                    .filter(|k| k.resource_instance().is_some() && p.is_prefix_of(k))
                    .count();
                if p.resource().is_some() && dim > 0 {
                    l.push_str(&format!(";dim={dim}"));
                }
                for (k, v) in self.attributes.get(p).into_iter().flatten() {
                    match v {
                        Some(v) => l.push_str(&format!(";{k}={v}")),
                        None => l.push_str(&format!(";{k}")),
                    }
                }
                l
            })
            .collect();
        let mut p = response(0x45);
        set_content_format(&mut p, 40);
        p.payload = links.join(",").into_bytes();
        p
    }

    fn decoded(&self, path: &Path, req: &Packet) -> Result<Vec<Record>, Packet> {
        let format = match content_format(req) {
            Ok(Some(cf)) => ContentFormat::from_code(cf).ok_or_else(|| response(0x8F))?,
            _ => return Err(response(0x80)),
        };
        decode(format, path, &req.payload, &*self.model).map_err(|_| response(0x80))
    }

    fn write(&mut self, path: &Path, req: &Packet, replace: bool) -> Packet {
        if !self.has_instance(&format!(
            "/{}/{}",
            path.object().unwrap_or(0),
            path.instance().unwrap_or(0)
        )) {
            return response(0x84);
        }
        let records = match self.decoded(path, req) {
            Ok(r) => r,
            Err(p) => return p,
        };
        if replace {
            self.values.retain(|k, _| !path.is_prefix_of(k));
        }
        for r in records {
            self.values.insert(r.path, r.value);
        }
        response(0x44)
    }

    fn write_attributes(&mut self, path: &Path, req: &Packet) -> Packet {
        let Some(queries) = uri_queries(req) else {
            return response(0x80);
        };
        let entry = self.attributes.entry(*path).or_default();
        for q in queries {
            let (k, v) = match q.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (q.clone(), None),
            };
            entry.retain(|(name, _)| *name != k);
            if v.is_some() {
                entry.push((k, v));
            }
        }
        response(0x44)
    }

    fn execute(&mut self, path: &Path, req: &Packet) -> Packet {
        let (Some(o), Some(r)) = (path.object(), path.resource()) else {
            return response(0x80);
        };
        let executable = EXECUTABLE.contains(&(o, r))
            || self.model.resource_type(o, r) == Some(lwm2m_core::content::ResourceType::None);
        if !executable {
            return response(0x85);
        }
        self.executions.push((
            path.to_string(),
            String::from_utf8_lossy(&req.payload).into_owned(),
        ));
        response(0x44)
    }

    fn create(&mut self, object: &Path, req: &Packet) -> Packet {
        let o = object.object().unwrap_or(0);
        let next = (0..u16::MAX)
            .find(|i| !self.has_instance(&format!("/{o}/{i}")))
            .unwrap_or(0);
        // With an instance id the payload names the instance; without, it holds resources only.
        let records = match self.decoded(object, req) {
            Ok(r) if !r.is_empty() => r,
            _ => match self.decoded(&Path::new_instance(o, next), req) {
                Ok(r) => r,
                Err(p) => return p,
            },
        };
        let Some(instance) = records.first().and_then(|r| r.path.instance()) else {
            return response(0x80);
        };
        if self.has_instance(&format!("/{o}/{instance}")) {
            return response(0x80); // TS 1.1 §6.3.6: the instance already exists
        }
        for r in records {
            self.values.insert(r.path, r.value);
        }
        let mut p = response(0x41);
        p.add_option(CoapOption::LocationPath, o.to_string().into_bytes());
        p.add_option(CoapOption::LocationPath, instance.to_string().into_bytes());
        p
    }
}
