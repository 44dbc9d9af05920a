//! Reads only the image skeleton of an `oldObject`.
//!
//! On UPDATE the rewrite needs nothing from the old object but each container's name and
//! image and each image volume's name and reference, yet building the whole of it as a `Value` doubles the cost of decoding the request.
//! This deserialiser keeps the members on the way to an image and skips the rest unbuilt.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Members on a path from an object to a container's `name` and `image`, or a volume's `name`
/// and `image.reference`.
pub(crate) const KEPT: [&str; 12] = [
    "spec",
    "template",
    "jobTemplate",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "name",
    "image",
    "volumes",
    "reference",
    // Read by the walk when the request names no kind.
    "kind",
    "metadata",
];

/// `deserialize_with` for `AdmissionRequest::old_object`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Skeleton.deserialize(deserializer)
}

struct Skeleton;

impl<'de> DeserializeSeed<'de> for Skeleton {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skeleton {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Skeleton)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            match key {
                Some(key) => {
                    let value = map.next_value_seed(Skeleton)?;
                    kept.insert(key.to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }
}

/// A member name: the matching entry of [`KEPT`], or `None`, without allocating.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KEPT.iter().find(|k| **k == v).copied())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[derive(serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "super::deserialize")]
        old: serde_json::Value,
    }

    #[test]
    fn keeps_only_the_way_to_the_images() {
        let old = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"replicas": 3, "template": {"metadata": {"name": "t"}, "spec": {
                "volumes": [{"name": "v", "configMap": {"name": "c"}},
                            {"name": "w", "image": {"reference": "ghcr.io/o/m:1", "pullPolicy": "Always"}}],
                "containers": [{"name": "c", "image": "nginx", "env": [{"name": "E", "value": "1"}], "ports": null}],
                "initContainers": [{"name": "i", "image": "busybox", "args": ["a", 1, true, 2.5]}]
            }}},
            "status": {"replicas": 3}
        });
        let holder: Holder = serde_json::from_value(json!({"old": old})).expect("deserialises");
        assert_eq!(
            holder.old,
            json!({
                "kind": "Deployment",
                "metadata": {"name": "d"},
                "spec": {"template": {"metadata": {"name": "t"}, "spec": {
                    "volumes": [{"name": "v"}, {"name": "w", "image": {"reference": "ghcr.io/o/m:1"}}],
                    "containers": [{"name": "c", "image": "nginx"}],
                    "initContainers": [{"name": "i", "image": "busybox"}]
                }}}
            })
        );
    }

    #[test]
    fn scalars_and_null_pass_through() {
        for value in [
            json!(null),
            json!(7),
            json!(-7),
            json!(1.5),
            json!("s"),
            json!(true),
            json!([1, "a", null]),
        ] {
            let holder: Holder =
                serde_json::from_value(json!({"old": value.clone()})).expect("deserialises");
            assert_eq!(holder.old, value);
        }
    }
}
