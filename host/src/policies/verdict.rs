//! A guest's answer to `validate` (kubewarden-policy-sdk's `ValidationResponse`), read in one pass:
//! its `mutated_object` walked beside the object the guest was sent, giving the patch
//! ([`diff::read_beside`]), or else kept as text (a [`Tape`]) for the patch to be computed from.
//!
//! The scan reads only a plain answer: an object, each known field once, each small field as
//! serde_json reads it from its own text. Anything else is read by serde_json into the same
//! struct policy-evaluator reads (unknown fields tolerated: other SDKs may add fields, and we must
//! run any Kubewarden policy), which gives the same verdict or the error.

use std::collections::BTreeMap;

use json_patch::PatchOperation;
use pullthrough_policy::json_scan::Scanner;
use serde::Deserialize;
use serde_json::Value;

use super::EvaluationError;
use super::diff::{self, Tape};

/// How deep the answer may nest, its own object counted as 1: serde_json's limit.
const MAX_DEPTH: usize = 127;

/// What a guest's `validate` answered.
#[derive(Debug)]
pub(super) struct Verdict<'a> {
    pub(super) accepted: bool,
    pub(super) message: Option<String>,
    pub(super) code: Option<u16>,
    pub(super) mutated_object: Option<Mutated<'a>>,
    pub(super) audit_annotations: Option<BTreeMap<String, String>>,
    pub(super) warnings: Option<Vec<String>>,
}

/// The object a guest answered with, as read.
#[derive(Debug)]
pub(super) enum Mutated<'a> {
    /// By the scan, walked beside the object the guest was sent: the patch between the two.
    Patch(Vec<PatchOperation>),
    /// By the scan, as the text it was written in, with the object the guest was sent (when the
    /// tape reads it), which its unchanged parts were copied from: what the walk leaves.
    Text {
        sent: Option<Tape<'a>>,
        answered: Tape<'a>,
    },
    /// By serde_json.
    Value(Value),
}

/// The answer as serde_json reads it, for what the scan does not read.
#[derive(Deserialize)]
struct ValidationResponse {
    accepted: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    mutated_object: Option<Value>,
    #[serde(default)]
    audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// The guest's answer as a verdict: one UTF-8 check, then the scan, else serde_json. `sent` is
/// the text of the object the guest was sent, if any.
pub(super) fn read<'a>(
    answer: &'a [u8],
    sent: Option<&'a str>,
) -> Result<Verdict<'a>, EvaluationError> {
    let text = std::str::from_utf8(answer)
        .map_err(|error| EvaluationError::InvalidResponse(serde::de::Error::custom(error)))?;
    if let Some(verdict) = scan(text, sent) {
        return Ok(verdict);
    }
    let response: ValidationResponse =
        serde_json::from_str(text).map_err(EvaluationError::InvalidResponse)?;
    Ok(Verdict {
        accepted: response.accepted,
        message: response.message,
        code: response.code,
        mutated_object: response.mutated_object.map(Mutated::Value),
        audit_annotations: response.audit_annotations,
        warnings: response.warnings,
    })
}

/// The answer read by the scan, or `None` when it is not a plain answer (see the module's doc).
fn scan<'a>(text: &'a str, sent: Option<&'a str>) -> Option<Verdict<'a>> {
    let mut scanner = Scanner::new(text, MAX_DEPTH);
    scanner.whitespace();
    let mut accepted = None;
    let mut verdict = Verdict {
        accepted: false,
        message: None,
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    };
    // The known fields seen, one bit each: serde refuses a field given twice.
    let mut seen = 0u8;
    scanner.members(0, |scanner, key| {
        let field = FIELDS.iter().position(|field| *field == key);
        if let Some(field) = field {
            let bit = 1 << field;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
        }
        match field {
            // The guest writes every field; most are null, which needs no deserializer.
            Some(1..=5) if scanner.peek()? == b'n' => (scanner.raw(1)? == "null").then_some(())?,
            Some(0) => accepted = Some(scanner.parse(1)?),
            Some(1) => verdict.message = scanner.parse(1)?,
            Some(2) => verdict.code = scanner.parse(1)?,
            Some(3) => {
                if let Some(patch) = sent.and_then(|sent| diff::read_beside(scanner, 1, sent)) {
                    verdict.mutated_object = Some(Mutated::Patch(patch));
                    return Some(());
                }
                // Read only now that there is something to compare it with, and no deeper than
                // the answer's object may nest, since its parts may be copied into it.
                let sent = sent.and_then(|sent| Tape::read_nested(sent, 1, None));
                let answered = Tape::read_at(scanner, 1, sent.as_ref())?;
                verdict.mutated_object = Some(Mutated::Text { sent, answered });
            }
            Some(4) => verdict.audit_annotations = scanner.parse(1)?,
            Some(5) => verdict.warnings = scanner.parse(1)?,
            _ => scanner.value(1)?,
        }
        Some(())
    })?;
    verdict.accepted = accepted?;
    scanner.end().then_some(verdict)
}

/// The fields of a `ValidationResponse`, in the order `scan` matches them.
const FIELDS: [&str; 6] = [
    "accepted",
    "message",
    "code",
    "mutated_object",
    "audit_annotations",
    "warnings",
];

#[cfg(test)]
mod tests;
