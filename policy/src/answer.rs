//! The guest's answer to `validate`, Kubewarden's `ValidationResponse`, written as JSON by hand:
//! the same bytes as serde_json's `to_vec` of it, but each of the mutated object's strings has its
//! plain run found eight bytes at a time ([`first_special`](crate::json_text::first_special))
//! instead of one. That object is the whole object the API server sent, so writing its strings is
//! most of the answer; the few small members around it go through serde_json's writer.

use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::Value;

use crate::json_text::push_string;

/// `response` as compact JSON, member for member as its `Serialize` writes it.
pub(crate) fn to_json(response: &ValidationResponse) -> serde_json::Result<Vec<u8>> {
    write(response, |out| match &response.mutated_object {
        Some(object) => push_value(out, object),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    })
}

/// `response` with `mutated_object` given as JSON text instead (the object as the API server sent
/// it, with the rewrite's edits spliced in), or `null`.
pub(crate) fn to_json_with_text(
    response: &ValidationResponse,
    mutated_object: Option<&str>,
) -> serde_json::Result<Vec<u8>> {
    write(response, |out| {
        out.extend_from_slice(mutated_object.unwrap_or("null").as_bytes());
        Ok(())
    })
}

fn write(
    response: &ValidationResponse,
    object: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"accepted\":");
    out.extend_from_slice(if response.accepted { b"true" } else { b"false" });
    out.extend_from_slice(b",\"message\":");
    serde_json::to_writer(&mut out, &response.message)?;
    out.extend_from_slice(b",\"code\":");
    serde_json::to_writer(&mut out, &response.code)?;
    out.extend_from_slice(b",\"mutated_object\":");
    object(&mut out)?;
    out.extend_from_slice(b",\"audit_annotations\":");
    serde_json::to_writer(&mut out, &response.audit_annotations)?;
    // A few short lines at most: serde_json's writer, as for the other small members.
    out.extend_from_slice(b",\"warnings\":");
    serde_json::to_writer(&mut out, &response.warnings)?;
    out.push(b'}');
    Ok(out)
}

/// Appends `value` as compact JSON. Its depth is bounded by the parser that built it (serde_json
/// refuses more than 128 levels), so the recursion is too.
fn push_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Integers and floats as serde_json formats them (itoa, ryu).
        Value::Number(number) => serde_json::to_writer(&mut *out, number)?,
        Value::String(text) => push_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_string(out, key);
                out.push(b':');
                push_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
