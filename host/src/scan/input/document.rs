//! One document, streamed: an object handed on whole, a list's items handed on one by one while
//! it is parsed, so a list is never held as one tree.

use std::fmt;

use serde::Deserialize as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One document: an object goes to the sink whole; a list (any object with an `items` array,
/// like `List` or `DeploymentList`) sends its items as they are parsed, and what else it holds
/// (`metadata.continue` of an API page) is returned. Empty documents are skipped; anything
/// else that is not an object is an error.
pub(crate) struct Document<'s> {
    pub(crate) sink: &'s mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    /// The fields of a list other than its items; `None` for a single object.
    type Value = Option<Map<String, Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object, a list of objects, or an array of objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            (self.sink)(item);
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        let mut was_list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                let item_kind = list_item_kind(&fields);
                let items = Items {
                    sink: &mut *self.sink,
                    item_kind,
                };
                if let Some(other) = map.next_value_seed(items)? {
                    fields.insert(key, other);
                } else {
                    was_list = true;
                }
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        if was_list {
            Ok(Some(fields))
        } else {
            (self.sink)(Value::Object(fields));
            Ok(None)
        }
    }
}

/// `Deployment` for a `DeploymentList` seen before its items (the API server writes `kind`
/// first); items of such a list carry no `kind` of their own.
fn list_item_kind(fields: &Map<String, Value>) -> Option<(String, Option<String>)> {
    let kind = fields.get("kind")?.as_str()?.strip_suffix("List")?;
    if kind.is_empty() {
        return None;
    }
    let api_version = fields
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((kind.to_owned(), api_version))
}

/// The value of a document's `items`: an array is streamed to the sink (`None` comes back);
/// anything else is returned as it is, an ordinary field.
struct Items<'s> {
    sink: &'s mut dyn FnMut(Value),
    item_kind: Option<(String, Option<String>)>,
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(mut item) = seq.next_element::<Value>()? {
            if let (Some((kind, api_version)), Value::Object(fields)) = (&self.item_kind, &mut item)
            {
                fields
                    .entry("kind")
                    .or_insert_with(|| Value::String(kind.clone()));
                if let Some(api_version) = api_version {
                    fields
                        .entry("apiVersion")
                        .or_insert_with(|| Value::String(api_version.clone()));
                }
            }
            (self.sink)(item);
        }
        Ok(None)
    }

    // Not a list after all: keep the value as the field it is.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(value))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
}
