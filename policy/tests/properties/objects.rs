//! Generated policy settings and admission requests: pods and every workload kind, with
//! container lists that are absent, null or full of valid, broken and odd images, and unknown
//! fields and nulls everywhere the walk must leave alone.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use pullthrough_policy::{Layout, OPT_OUT_KEY, ORIGINAL_IMAGES_ANNOTATION, RuleSetting, Settings};
use serde_json::{Map, Value, json};

use super::references::{self, KNOWN_HOSTS};

/// The kinds the policy rewrites, and where each keeps its pod spec.
pub const KINDS: [(&str, &str); 8] = [
    ("Pod", "/spec"),
    ("Deployment", "/spec/template/spec"),
    ("ReplicaSet", "/spec/template/spec"),
    ("StatefulSet", "/spec/template/spec"),
    ("DaemonSet", "/spec/template/spec"),
    ("Job", "/spec/template/spec"),
    ("CronJob", "/spec/jobTemplate/spec/template/spec"),
    ("ReplicationController", "/spec/template/spec"),
];

/// Container lists in the order the policy walks them.
pub const LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// `host[:port][/path]`, as a mirror or a rule target.
fn target() -> BoxedStrategy<String> {
    (references::host(), vec(references::path_component(), 0..=2))
        // Settings refuse Docker Hub's legacy name as a cache (fuzz_regressions.rs).
        .prop_filter("index.docker.io is not a cache", |(host, _)| {
            !host.eq_ignore_ascii_case("index.docker.io")
        })
        .prop_map(|(host, prefix)| {
            prefix
                .iter()
                .fold(host, |target, part| format!("{target}/{part}"))
        })
        .boxed()
}

/// Valid settings: every layout, `*` or a list of registries, rules and exclude patterns, with
/// `allowSharedNamespace`.
pub fn settings() -> BoxedStrategy<Settings> {
    let known = || proptest::sample::select(&KNOWN_HOSTS[..]).prop_map(str::to_owned);
    let registries = prop_oneof![
        Just(None),
        Just(Some(vec!["*".to_owned()])),
        vec(known(), 0..=4).prop_map(Some),
    ];
    let rules = vec((known(), target()), 0..=2);
    let exclude = vec(
        proptest::sample::select(
            &[
                "docker.io/library/busybox*",
                "**/internal/**",
                "ghcr.io/**",
                "*/x*/**",
            ][..],
        ),
        0..=1,
    );
    let layout = prop_oneof![Just(Layout::Flat), Just(Layout::Prefixed)];
    (target(), registries, layout, rules, exclude)
        .prop_map(|(mirror, registries, layout, rules, exclude)| {
            let mut seen = Vec::new();
            let rules = rules
                .into_iter()
                .filter(|(registry, _)| {
                    let key = registry
                        .to_ascii_lowercase()
                        .replace("index.docker.io", "docker.io");
                    let new = !seen.contains(&key);
                    seen.push(key);
                    new
                })
                .map(|(registry, target)| RuleSetting { registry, target })
                .collect();
            Settings {
                mirror,
                mirrors: Vec::new(),
                registries,
                layout,
                rules,
                exclude: exclude.into_iter().map(str::to_owned).collect(),
                keep_images_with_pull_secrets: false,
                image_pull_secrets: Vec::new(),
                // Every shape of settings, shared namespaces included: the rewrite's own
                // properties hold for all of them (the sharing has a property of its own).
                allow_shared_namespace: true,
            }
        })
        .boxed()
}

/// Any small JSON value, nulls included.
pub fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[ -~]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::Array),
            btree_map("[a-zA-Z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Fields a real object carries and ones no schema knows, none of which the policy may touch.
fn extra_fields(keys: &'static [&'static str]) -> BoxedStrategy<Map<String, Value>> {
    let key = prop_oneof![
        proptest::sample::select(keys).prop_map(str::to_owned),
        "x-[a-z]{1,5}"
    ];
    btree_map(key, json_value(), 0..=3)
        .prop_map(|m| m.into_iter().collect())
        .boxed()
}

/// An `image` value: mostly references from the grammar, some broken, some not strings.
fn image() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        8 => references::valid().prop_map(|g| Some(json!(g.image))),
        2 => references::invalid().prop_map(|(image, _)| Some(json!(image))),
        1 => "[ -~]{0,20}".prop_map(|s| Some(json!(s))),
        1 => Just(Some(json!(""))),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!(42))),
        1 => Just(None),
    ]
    .boxed()
}

fn container() -> BoxedStrategy<Value> {
    let fields = extra_fields(&[
        "resources",
        "ports",
        "env",
        "imagePullPolicy",
        "command",
        "securityContext",
    ]);
    prop_oneof![
        20 => (image(), fields).prop_map(|(image, mut container)| {
            if let Some(image) = image {
                container.insert("image".to_owned(), image);
            }
            Value::Object(container)
        }),
        1 => prop_oneof![Just(Value::Null), Just(json!("nginx")), Just(json!(3))],
    ]
    .boxed()
}

/// A container list: absent, null, or up to four containers, most of them named.
fn container_list() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => vec((container(), proptest::bool::weighted(0.8)), 0..=4).prop_map(|containers| {
            Some(Value::Array(containers.into_iter().map(|(mut c, named)| {
                if let (Value::Object(c), true) = (&mut c, named) {
                    c.insert("name".to_owned(), Value::Null);
                }
                c
            }).collect()))
        }),
    ]
    .boxed()
}

fn pod_spec() -> BoxedStrategy<Value> {
    (
        [container_list(), container_list(), container_list()],
        extra_fields(&[
            "restartPolicy",
            "volumes",
            "nodeSelector",
            "serviceAccountName",
        ]),
    )
        .prop_map(|(lists, mut spec)| {
            for (list, containers) in LISTS.iter().zip(lists) {
                if let Some(mut containers) = containers {
                    // Names unique across the pod, as the API server requires.
                    for (i, c) in containers.as_array_mut().into_iter().flatten().enumerate() {
                        if let Some(name) = c.get_mut("name") {
                            *name = json!(format!("{list}-{i}"));
                        }
                    }
                    spec.insert((*list).to_owned(), containers);
                }
            }
            Value::Object(spec)
        })
        .boxed()
}

/// What the object's metadata holds besides plain labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    /// `pullthrough.dev/rewrite: "false"` on the object or its template.
    OptOut,
    /// The kubelet's static-pod annotation.
    MirrorPod,
    /// `pullthrough.dev/rewrite: "false"` as a label of the pod template (none on a Pod).
    TemplateOptOut,
}

fn metadata() -> BoxedStrategy<(Option<Value>, Marker)> {
    let marker = prop_oneof![
        18 => Just(Marker::None),
        1 => Just(Marker::OptOut),
        1 => Just(Marker::MirrorPod),
        1 => Just(Marker::TemplateOptOut),
    ];
    let annotations = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        extra_fields(&["a", "kubectl.kubernetes.io/last-applied-configuration"])
            .prop_map(|m| Some(Value::Object(m))),
        Just(Some(
            json!({ORIGINAL_IMAGES_ANNOTATION: "{\"earlier\":\"nginx:1\"}"})
        )),
        Just(Some(json!({ORIGINAL_IMAGES_ANNOTATION: "edited by hand"}))),
    ];
    let shape = prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => (annotations, extra_fields(&["name", "namespace", "labels", "uid"]))
            .prop_map(with_annotations),
    ];
    (shape, marker, any::<bool>())
        .prop_map(|(metadata, marker, as_label)| {
            let (key, value) = match marker {
                Marker::None | Marker::TemplateOptOut => return (metadata, marker),
                Marker::OptOut => (OPT_OUT_KEY, "false"),
                Marker::MirrorPod => ("kubernetes.io/config.mirror", "0a1b"),
            };
            let field = if as_label && marker == Marker::OptOut {
                "labels"
            } else {
                "annotations"
            };
            let mut metadata = metadata
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            if !metadata[field].is_object() {
                metadata[field] = json!({});
            }
            metadata[field][key] = json!(value);
            (Some(metadata), marker)
        })
        .boxed()
}

fn with_annotations(
    (annotations, mut metadata): (Option<Value>, Map<String, Value>),
) -> Option<Value> {
    metadata.remove("annotations");
    if let Some(annotations) = annotations {
        metadata.insert("annotations".to_owned(), annotations);
    }
    Some(Value::Object(metadata))
}

/// A generated `AdmissionRequest` and what in it decides whether anything may change.
#[derive(Debug, Clone)]
pub struct Request {
    pub json: Value,
    pub kind: &'static str,
    pub spec_pointer: &'static str,
    pub marker: Marker,
}

/// A CREATE or UPDATE (or DELETE, or a subresource) of any kind the policy rewrites.
pub fn request() -> BoxedStrategy<Request> {
    let operation = prop_oneof![6 => Just("CREATE"), 3 => Just("UPDATE"), 1 => Just("DELETE")];
    let sub_resource = prop_oneof![
        8 => Just(None),
        1 => Just(Some("")),
        1 => Just(Some("ephemeralcontainers")),
        1 => Just(Some("status")),
    ];
    let object = (
        proptest::sample::select(&KINDS[..]),
        metadata(),
        pod_spec(),
        extra_fields(&["status", "apiVersion"]),
    );
    let request = (
        operation,
        sub_resource,
        vec(any::<bool>(), 12),
        proptest::bool::weighted(0.9),
    );
    (object, request)
        .prop_map(
            |(object, (operation, sub_resource, kept, kind_in_request))| {
                let ((kind, spec_pointer), (metadata, marker), spec, extra) = object;
                let object = workload(kind, metadata, marker, spec, extra);
                let mut json = json!({"uid": "0f6a", "operation": operation, "object": object});
                if kind_in_request {
                    json["kind"] = json!({"group": "", "version": "v1", "kind": kind});
                }
                if let Some(sub_resource) = sub_resource {
                    json["subResource"] = json!(sub_resource);
                }
                if operation == "UPDATE" {
                    json["oldObject"] = old_object(&json["object"], spec_pointer, kept);
                }
                Request {
                    json,
                    kind,
                    spec_pointer,
                    marker,
                }
            },
        )
        .boxed()
}

/// An object of `kind` with `spec` as its pod spec.
fn workload(
    kind: &str,
    metadata: Option<Value>,
    marker: Marker,
    spec: Value,
    extra: Map<String, Value>,
) -> Value {
    let mut object = Value::Object(extra);
    object["kind"] = json!(kind);
    if let Some(metadata) = metadata {
        object["metadata"] = metadata;
    }
    let mut template = json!({"metadata": {"labels": {"app": "generated"}}, "spec": spec});
    if marker == Marker::TemplateOptOut {
        template["metadata"]["labels"][OPT_OUT_KEY] = json!("false");
    }
    object["spec"] = match kind {
        "Pod" => template["spec"].take(),
        "CronJob" => json!({
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template}},
            "suspend": null
        }),
        _ => json!({"replicas": 2, "selector": null, "template": template}),
    };
    object
}

/// The object before an update: it had some of the images and others in their place.
fn old_object(object: &Value, spec_pointer: &str, kept: Vec<bool>) -> Value {
    let mut old = object.clone();
    let mut kept = kept.into_iter().cycle();
    for list in LISTS {
        let pointer = format!("{spec_pointer}/{list}");
        let containers = old.pointer_mut(&pointer).and_then(Value::as_array_mut);
        for c in containers.into_iter().flatten() {
            if let (Some(image), Some(false)) = (c.get_mut("image"), kept.next()) {
                *image = json!("busybox:1.0");
            }
        }
    }
    old
}
