//! The admission walk on any request: `mutate` never panics, agrees with `mutate_request`, its
//! patch touches only `image` fields and the originals annotation, and mutating its own
//! output changes nothing.
//!
//! Input that is JSON is the request (or an `AdmissionReview` holding one), so the fixtures are
//! seeds; anything else is read as a structured request, whose image references are built from
//! the reference grammar's pieces so that most of them really get rewritten.
#![no_main]

#[path = "../checks.rs"]
mod checks;

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pullthrough_policy::{Rewriter, Settings};
use serde_json::{Map, Value, json};

const DIGEST: &str = "sha256:9bba603b99bf25f6d117cf1235b6598c16033ad027b143c90fa5b3cc583c5713";

static REWRITERS: LazyLock<Vec<Rewriter>> = LazyLock::new(checks::rewriters);

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let request = value.get("request").cloned().unwrap_or(value);
        for rewriter in REWRITERS.iter() {
            checks::admission(rewriter, &request);
        }
        return;
    }
    let mut u = Unstructured::new(data);
    if let Ok(input) = Input::arbitrary(&mut u)
        && let Ok(rewriter) = input.settings.to_settings().compile()
    {
        checks::admission(&rewriter, &input.request());
    }
});

#[derive(Debug, Arbitrary)]
struct Input {
    settings: SettingsInput,
    kind: u8,
    kind_on_object_only: bool,
    operation: u8,
    sub_resource: u8,
    metadata: Metadata,
    lists: [Option<Vec<Container>>; 3],
    /// For UPDATE: which containers keep their image in the old object.
    unchanged: Vec<bool>,
    spec_extra: Json,
}

const KINDS: [&str; 9] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "Service",
];
const OPERATIONS: [&str; 4] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];
const SUB_RESOURCES: [Option<&str>; 4] =
    [None, Some(""), Some("ephemeralcontainers"), Some("status")];
const LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];
const HOSTS: [&str; 12] = [
    "docker.io",
    "index.docker.io",
    "ghcr.io",
    "Quay.IO",
    "gcr.io",
    "registry.k8s.io",
    "localhost",
    "localhost:5000",
    "[fd00::1]:5000",
    "[::1]",
    "10.0.0.1:5000",
    "m.example.com",
];

impl Input {
    fn request(&self) -> Value {
        let kind = pick(&KINDS, self.kind);
        let operation = pick(&OPERATIONS, self.operation);
        let mut spec = self.spec_extra.object();
        for (list, containers) in LISTS.iter().zip(&self.lists) {
            if let Some(containers) = containers {
                let items = containers.iter().enumerate();
                let items = items
                    .map(|(i, c)| c.to_json(&format!("{list}-{i}")))
                    .collect();
                spec.insert((*list).to_owned(), Value::Array(items));
            }
        }
        let mut object =
            json!({"apiVersion": "v1", "kind": kind, "metadata": self.metadata.to_json()});
        object["spec"] = wrap(kind, Value::Object(spec));
        let mut request = json!({"uid": "fuzz", "operation": operation, "object": object});
        if !self.kind_on_object_only {
            request["kind"] = json!({"group": "", "version": "v1", "kind": kind});
        }
        if let Some(sub) = pick(&SUB_RESOURCES, self.sub_resource) {
            request["subResource"] = json!(sub);
        }
        if operation == "UPDATE" {
            let mut old = request["object"].clone();
            let mut keep = self
                .unchanged
                .iter()
                .copied()
                .chain(std::iter::repeat(true));
            for image in images_mut(&mut old) {
                if !keep.next().unwrap_or(true) {
                    *image = json!("busybox:old");
                }
            }
            request["oldObject"] = old;
        }
        request
    }
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

fn wrap(kind: &str, pod_spec: Value) -> Value {
    let template = json!({"metadata": {"labels": {"app": "fuzz"}}, "spec": pod_spec});
    match kind {
        "Pod" | "Service" => template["spec"].clone(),
        "CronJob" => {
            json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        _ => json!({"replicas": 1, "template": template}),
    }
}

fn images_mut(object: &mut Value) -> Vec<&mut Value> {
    let spec = [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ]
    .into_iter()
    .rev()
    .find(|p| {
        object
            .pointer(p)
            .is_some_and(|s| LISTS.iter().any(|l| s.get(l).is_some()))
    });
    let Some(spec) = spec.and_then(|p| object.pointer_mut(p)) else {
        return Vec::new();
    };
    let Value::Object(spec) = spec else {
        return Vec::new();
    };
    spec.iter_mut()
        .filter(|(k, _)| LISTS.contains(&k.as_str()))
        .filter_map(|(_, v)| v.as_array_mut())
        .flatten()
        .filter_map(|c| c.get_mut("image"))
        .collect()
}

#[derive(Debug, Arbitrary)]
enum Metadata {
    Absent,
    Null,
    Object {
        opt_out: u8,
        originals: Option<String>,
        extra: Json,
    },
}

impl Metadata {
    fn to_json(&self) -> Value {
        match self {
            Self::Absent => Value::Null,
            Self::Null => Value::Null,
            Self::Object {
                opt_out,
                originals,
                extra,
            } => {
                let mut metadata = extra.object();
                let mut annotations = Map::new();
                if let Some(originals) = originals {
                    annotations.insert("pullthrough.dev/original-images".into(), json!(originals));
                }
                match opt_out % 8 {
                    0 => drop(annotations.insert("pullthrough.dev/rewrite".into(), json!("false"))),
                    1 => drop(annotations.insert("kubernetes.io/config.mirror".into(), json!("x"))),
                    _ => {}
                }
                metadata.insert("annotations".into(), Value::Object(annotations));
                Value::Object(metadata)
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Container {
    named: bool,
    image: Image,
    extra: Json,
}

impl Container {
    fn to_json(&self, name: &str) -> Value {
        let mut container = self.extra.object();
        container.remove("image");
        if self.named {
            container.insert("name".into(), json!(name));
        }
        if let Some(image) = self.image.to_json() {
            container.insert("image".into(), image);
        }
        Value::Object(container)
    }
}

#[derive(Debug, Arbitrary)]
enum Image {
    Absent,
    Other(Json),
    Raw(String),
    Parts {
        host: Option<u8>,
        path: Vec<Word>,
        tag: Option<Word>,
        digest: bool,
    },
}

impl Image {
    fn to_json(&self) -> Option<Value> {
        Some(match self {
            Self::Absent => return None,
            Self::Other(json) => json.0.clone(),
            Self::Raw(s) => json!(s),
            Self::Parts {
                host,
                path,
                tag,
                digest,
            } => {
                let mut image = host
                    .map(|h| format!("{}/", pick(&HOSTS, h)))
                    .unwrap_or_default();
                let path: Vec<&str> = path.iter().map(|w| w.0.as_str()).collect();
                image.push_str(&path.join("/"));
                if let Some(tag) = tag {
                    image.push(':');
                    image.push_str(&tag.0);
                }
                if *digest {
                    image.push('@');
                    image.push_str(DIGEST);
                }
                json!(image)
            }
        })
    }
}

/// A short word over the characters of path components and tags.
#[derive(Debug)]
struct Word(String);

impl<'a> Arbitrary<'a> for Word {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const ALPHABET: &[u8] = b"abcxyz0189._-";
        let len = u.int_in_range(1..=12)?;
        let word = (0..len)
            .map(|_| u.choose(ALPHABET).map(|&b| char::from(b)))
            .collect::<Result<String>>()?;
        Ok(Self(word))
    }
}

#[derive(Debug, Arbitrary)]
struct SettingsInput {
    mirror: Result<u8, String>,
    mirror_prefix: Option<Word>,
    prefixed: bool,
    registries: Option<Vec<u8>>,
    all: bool,
    rules: Vec<(u8, u8, Option<Word>)>,
    exclude: Vec<String>,
}

impl SettingsInput {
    fn to_settings(&self) -> Settings {
        let host = |i: &u8| pick(&HOSTS, *i).to_owned();
        let mut mirror = self.mirror.as_ref().map_or_else(Clone::clone, host);
        if let Some(prefix) = &self.mirror_prefix {
            mirror = format!("{mirror}/{}", prefix.0);
        }
        let mut settings: Settings = serde_json::from_value(json!({
            "mirror": mirror,
            "layout": if self.prefixed { "prefixed" } else { "flat" },
            "exclude": self.exclude,
        }))
        .expect("settings shape");
        if self.all {
            settings.registries = Some(vec!["*".into()]);
        } else if let Some(registries) = &self.registries {
            settings.registries = Some(registries.iter().map(host).collect());
        }
        settings.rules = self
            .rules
            .iter()
            .map(|(registry, target, prefix)| pullthrough_policy::RuleSetting {
                registry: host(registry),
                target: prefix
                    .as_ref()
                    .map_or_else(|| host(target), |p| format!("{}/{}", host(target), p.0)),
            })
            .collect();
        // Every shape the rewrite can be asked for, shared namespaces included.
        settings.allow_shared_namespace = true;
        settings
    }
}

/// Any JSON value, nested at most a few levels so that a deep input cannot exhaust the stack.
#[derive(Debug)]
struct Json(Value);

impl Json {
    fn object(&self) -> Map<String, Value> {
        match &self.0 {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        }
    }
}

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        json_value(u, 4).map(Self)
    }
}

fn json_value(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    let choice = u.int_in_range(0..=if depth == 0 { 4 } else { 6 })?;
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(u.arbitrary()?),
        5 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array(
                (0..len)
                    .map(|_| json_value(u, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..len {
                map.insert(u.arbitrary()?, json_value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}
