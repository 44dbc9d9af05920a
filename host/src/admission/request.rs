//! One admission request (`AdmissionReview.request`), kept as the JSON text the API server sent.
//!
//! The request is read once, member by member, without building a tree: the few fields the
//! server logs are picked out, and the text the guest receives is spliced together from the
//! members as they came. `object` and `oldObject` are copied byte for byte (the JSONPatch is
//! computed against exactly the object the API server sent); only the small members around them
//! are re-written, without their nulls, as Kubewarden's evaluator hands them to a policy.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::AdmissionError;
use super::members::{json_type, object_members};

/// One admission request, as the guest will receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    operation: String,
    // The request object without its null members (see `WithoutNulls`).
    json: Vec<u8>,
    // Where `object` is in `json`; none on a DELETE.
    object: Option<Range<usize>>,
}

impl AdmissionRequest {
    /// Reads the JSON text of a bare `request` object.
    pub fn from_json(text: &str) -> Result<Self, AdmissionError> {
        let Ok(members) = object_members(text.as_bytes()).map_err(AdmissionError::Json)? else {
            return Err(AdmissionError::MissingRequest);
        };
        let mut request = Self {
            uid: String::new(),
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            operation: String::new(),
            json: Vec::with_capacity(text.len()),
            object: None,
        };
        request.json.push(b'{');
        for (index, (key, raw)) in members.iter().enumerate() {
            let value = raw.get();
            // Of duplicate keys the last counts, as in a parsed object; nulls go.
            if value == "null" || members[index + 1..].iter().any(|(later, _)| later == key) {
                continue;
            }
            request.read_member(key, raw);
            if request.json.len() > 1 {
                request.json.push(b',');
            }
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut request.json, key.as_ref());
            request.json.push(b':');
            let start = request.json.len();
            match key.as_ref() {
                "object" | "oldObject" => request.json.extend_from_slice(value.as_bytes()),
                _ if value.starts_with('{') && value.contains("null") => {
                    let Ok(Value::Object(fields)) = serde_json::from_str(value) else {
                        unreachable!("an object member read as raw JSON parses as an object")
                    };
                    let _ = serde_json::to_writer(&mut request.json, &WithoutNulls(&fields));
                }
                _ => request.json.extend_from_slice(value.as_bytes()),
            }
            if key == "object" {
                request.object = Some(start..request.json.len());
            }
        }
        request.json.push(b'}');
        if request.uid.is_empty() {
            return Err(AdmissionError::MissingUid);
        }
        if request.name.is_empty()
            && let Some(object) = request.object_json()
        {
            // On a CREATE with generateName the request has no name: the prefix is the name.
            request.name = object_name(object);
        }
        Ok(request)
    }

    /// Takes a bare `request` object (for `scan` and `run`, off the request path).
    pub fn from_value(value: Value) -> Result<Self, AdmissionError> {
        match value {
            Value::Object(_) => Self::from_json(&value.to_string()),
            _ => Err(AdmissionError::MissingRequest),
        }
    }

    /// Accepts what `kwctl run --request-path` accepts: a full AdmissionReview (any object with a
    /// `request` field) or a bare request.
    pub fn from_review_or_request(value: Value) -> Result<Self, AdmissionError> {
        match value {
            Value::Object(mut map) if map.contains_key("request") => {
                let request = map.remove("request").unwrap_or(Value::Null);
                Self::from_value(request)
            }
            Value::Object(_) => Self::from_value(value),
            other => Err(AdmissionError::NotAnObject(json_type(
                other.to_string().as_bytes(),
            ))),
        }
    }

    /// The fields the server logs: a string member, or empty when it is missing or not one.
    fn read_member(&mut self, key: &str, raw: &RawValue) {
        let text = || serde_json::from_str::<String>(raw.get()).unwrap_or_default();
        match key {
            "uid" => self.uid = text(),
            "namespace" => self.namespace = text(),
            "name" => self.name = text(),
            "operation" => self.operation = text(),
            "kind" => {
                #[derive(Deserialize)]
                struct Kind<'a> {
                    #[serde(borrow)]
                    kind: Option<Cow<'a, str>>,
                }
                self.kind = serde_json::from_str::<Kind<'_>>(raw.get())
                    .ok()
                    .and_then(|kind| kind.kind)
                    .map(Cow::into_owned)
                    .unwrap_or_default();
            }
            _ => {}
        }
    }

    /// `request.uid`, copied into the response.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// `request.kind.kind`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `request.namespace`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `request.name`, or the object's name or generateName when the request has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `request.operation`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The request's JSON text as the guest receives it.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// `request.object`'s JSON text as it was sent; none on a DELETE (absent or null).
    pub fn object_json(&self) -> Option<&[u8]> {
        self.object.clone().map(|range| &self.json[range])
    }

    /// `request.object`, parsed.
    pub fn object(&self) -> Option<Value> {
        let text = self.object_json()?;
        Some(serde_json::from_slice(text).expect("the object was read as JSON"))
    }
}

/// `metadata.name`, else `metadata.generateName`, else empty.
fn object_name(object: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Object<'a> {
        #[serde(borrow)]
        metadata: Option<Metadata<'a>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        generate_name: Option<Cow<'a, str>>,
    }
    let Ok(Object {
        metadata: Some(metadata),
    }) = serde_json::from_slice::<Object<'_>>(object)
    else {
        return String::new();
    };
    [metadata.name, metadata.generate_name]
        .into_iter()
        .flatten()
        .find(|name| !name.is_empty())
        .map(Cow::into_owned)
        .unwrap_or_default()
}

/// An object without its `null` members, at every depth of nested objects (arrays are kept as
/// they are), the way Kubewarden's evaluator strips a request so the SDK's `#[serde(default)]`
/// string fields (`subResource`, `namespace`, ...) deserialise.
pub(super) struct WithoutNulls<'a>(pub(super) &'a Map<String, Value>);

impl serde::Serialize for WithoutNulls<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0.iter().filter(|(_, value)| !value.is_null()) {
            match value {
                Value::Object(fields) => map.serialize_entry(key, &WithoutNulls(fields))?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}
