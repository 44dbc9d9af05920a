//! The patch `--apply` sends, guarded: the image changes read from the policy's JSON patch,
//! and every path it touches first tested against the value it had when scanned.

use serde_json::{Value, json};

use super::records::str_at;
use super::{ImageChange, Verdict};
use crate::admission::ImagePath;

/// The image changes in the policy's patch, and the patch `--apply` sends: every path the patch
/// touches (and the name of each container whose image it replaces) first tested against the
/// value it had when scanned, so a change made since fails the patch instead of being
/// overwritten. A path that was absent is tested against `null`, which the API server's JSON
/// patch takes as "still absent".
pub(crate) fn changes(object: &Value, ops: Vec<Value>) -> Verdict {
    let mut images = Vec::new();
    let mut guards: Vec<Value> = Vec::new();
    let mut guard = |path: &str| {
        if !guards.iter().any(|g| g["path"] == path) {
            let value = object.pointer(path).cloned().unwrap_or(Value::Null);
            guards.push(json!({"op": "test", "path": path, "value": value}));
        }
    };
    for op in &ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        guard(path);
        let replaced = (op.get("op").and_then(Value::as_str) == Some("replace"))
            .then(|| ImagePath::parse(path))
            .flatten();
        if let (Some(image), Some(to)) = (replaced, op.get("value").and_then(Value::as_str)) {
            let name_path = image.name_pointer();
            guard(&name_path);
            images.push(ImageChange {
                container: image.label(str_at(object, &name_path)),
                path: path.to_owned(),
                from: str_at(object, path).to_owned(),
                to: to.to_owned(),
            });
        }
    }
    if images.is_empty() {
        // A patch that touches no image (another policy's labels, say) is not this scan's business.
        return Verdict::Unchanged;
    }
    guards.extend(ops);
    Verdict::Changes {
        images,
        patch: Value::Array(guards),
    }
}
