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
use serde_json::{Map, Value};

use super::AdmissionError;
use super::members::{Member, object_members, opening, string_or_empty};

/// One admission request, as the guest will receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    operation: String,
    // The request object without its null members (see `without_nulls`).
    json: String,
    // Where `object` is in `json`; none on a DELETE.
    object: Option<Range<usize>>,
}

impl AdmissionRequest {
    /// Reads the JSON text of a bare `request` object.
    pub fn from_json(text: &str) -> Result<Self, AdmissionError> {
        match object_members(text).map_err(AdmissionError::Json)? {
            Ok(members) => Self::from_members(&members, text.len()),
            Err(_) => Err(AdmissionError::MissingRequest),
        }
    }

    /// The request of `members`, about `size` bytes of JSON.
    pub(super) fn from_members(
        members: &[Member<'_>],
        size: usize,
    ) -> Result<Self, AdmissionError> {
        let mut request = Self {
            uid: String::new(),
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            operation: String::new(),
            json: String::with_capacity(size),
            object: None,
        };
        request.json.push('{');
        for (index, &(ref key, value)) in members.iter().enumerate() {
            // Of duplicate keys the last counts, as in a parsed object; nulls go.
            if value == "null" || members[index + 1..].iter().any(|(later, _)| later == key) {
                continue;
            }
            request.read_member(key, value);
            if request.json.len() > 1 {
                request.json.push(',');
            }
            match key {
                // Borrowed from the text, so it had no escapes and needs none.
                Cow::Borrowed(key) => {
                    request.json.push('"');
                    request.json.push_str(key);
                    request.json.push('"');
                }
                Cow::Owned(key) => request
                    .json
                    .push_str(&Value::from(key.as_str()).to_string()),
            }
            request.json.push(':');
            let start = request.json.len();
            match key.as_ref() {
                "object" | "oldObject" => request.json.push_str(value),
                _ if value.starts_with('{') && value.contains("null") => {
                    let Ok(Value::Object(fields)) = serde_json::from_str(value) else {
                        unreachable!("an object member read as raw JSON parses as an object")
                    };
                    request
                        .json
                        .push_str(&Value::Object(without_nulls(fields)).to_string());
                }
                _ => request.json.push_str(value),
            }
            if key == "object" {
                request.object = Some(start..request.json.len());
            }
        }
        request.json.push('}');
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
        Self::from_json(&value.to_string())
    }

    /// Accepts what `kwctl run --request-path` accepts: a full AdmissionReview (any object with a
    /// `request` field) or a bare request.
    pub fn from_review_or_request(value: Value) -> Result<Self, AdmissionError> {
        let text = value.to_string();
        let (members, request) = opening(&text, "request")
            .map_err(AdmissionError::Json)?
            .map_err(AdmissionError::NotAnObject)?;
        match request {
            Some(Ok(request)) => Self::from_members(&request, text.len()),
            // A `request` that is null or not an object.
            Some(Err(_)) => Err(AdmissionError::MissingRequest),
            None => Self::from_members(&members, text.len()),
        }
    }

    /// The fields the server logs: a string member, or empty when it is missing or not one.
    fn read_member(&mut self, key: &str, raw: &str) {
        let text = || string_or_empty(raw);
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
                self.kind = serde_json::from_str::<Kind<'_>>(raw)
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
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `request.object`'s JSON text as it was sent; none on a DELETE (absent or null).
    pub fn object_json(&self) -> Option<&str> {
        self.object.clone().map(|range| &self.json[range])
    }

    /// `request.object`, parsed.
    pub fn object(&self) -> Option<Value> {
        let text = self.object_json()?;
        Some(serde_json::from_str(text).expect("the object was read as JSON"))
    }
}

/// `metadata.name`, else `metadata.generateName`, else empty.
fn object_name(object: &str) -> String {
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
    }) = serde_json::from_str::<Object<'_>>(object)
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
/// string fields (`subResource`, `namespace`, ...) deserialise. Only the small members around
/// `object` and `oldObject` come here, and only when they hold a null.
fn without_nulls(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| match value {
            Value::Object(inner) => (key, Value::Object(without_nulls(inner))),
            value => (key, value),
        })
        .collect()
}
