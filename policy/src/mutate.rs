//! The admission request walk: every image of a pod or pod template (each container's `image`
//! and each image volume's `image.reference`, which the kubelet pulls alike), rewritten in the
//! raw JSON so that the patch derived from the result holds only what changed.
//!
//! The walk first reads the object and plans its edits without copying it; only a request
//! that changes something pays for a mutated object (a copy for [`Rewriter::mutate`], none
//! for [`Rewriter::mutate_request`], which takes the object out of the request it was handed).
//!
//! - `request`: the fields of the admission request the walk reads, from JSON or deserialised.
//! - `plan`: which images change, which are left with a warning, which pull secrets to add.
//! - `edit`: the planned edits applied to the object, and the outcome.
//! - `splice`: the same edits spliced into the object's text, for `Rewriter::mutate_text`.
//! - `sites`: where a pod spec holds images, and where each kind holds its pod spec.
//! - `originals`, `warning`: the originals annotation and the warnings' wording and limits.

mod edit;
mod originals;
mod plan;
mod request;
mod sites;
mod splice;
mod warning;

use serde_json::Value;

use crate::object_text::Payload;
use crate::rewrite::Rewriter;
use edit::finish;
pub use originals::MAX_ANNOTATIONS_BYTES;
use plan::plan;
use request::View;
pub use request::{AdmissionRequest, GroupVersionKind};
pub use warning::{MAX_WARNING_CHARS, MAX_WARNINGS};

/// Label or annotation that opts an object out when set to `"false"`. On a workload it is
/// read from the object and from its pod template (and a CronJob's job template).
pub const OPT_OUT_KEY: &str = "pullthrough.dev/rewrite";

/// Annotation recording the images that were rewritten: a JSON object from container name (or
/// `volume:NAME` for an image volume) to the image as it was written, merged with what an
/// earlier admission recorded.
pub const ORIGINAL_IMAGES_ANNOTATION: &str = "pullthrough.dev/original-images";

/// What the rewrite did to one admission request; the object a tree, or text (the guest's
/// `Rewriter::mutate_text`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome<O = Value> {
    /// The whole object with its images rewritten, or `None` when nothing changed.
    pub mutated_object: Option<O>,
    /// One line per image left unchanged because it could not be rewritten.
    pub warnings: Vec<String>,
    /// How many `image` fields changed.
    pub images_rewritten: usize,
}

impl Rewriter {
    /// Rewrites the images of an `AdmissionRequest` given as JSON (the `request` member of an
    /// `AdmissionReview`). The object is copied only when an image changes.
    pub fn mutate(&self, request: &Value) -> Outcome {
        let view = View::of_json(request);
        let plan = plan(self, &view);
        finish(plan, || view.object.clone())
    }

    /// Rewrites the images of a deserialised request, editing its object in place: when an
    /// image changes, the object moves into the outcome and the request is left with `null`.
    pub fn mutate_request(&self, request: &mut AdmissionRequest) -> Outcome {
        let plan = plan(self, &View::of_request(request));
        finish(plan, || std::mem::take(&mut request.object))
    }

    /// Rewrites the images of a payload whose object was kept as the text it came in: planned
    /// from its kept members, the mutated object is that text with the edits spliced in. `None`
    /// if an edit's place were not among the kept members' (the caller then builds the tree).
    pub(crate) fn mutate_text(&self, payload: &Payload<'_>) -> Option<Outcome<String>> {
        let view = View {
            kind: &payload.kind,
            operation: &payload.operation,
            sub_resource: &payload.sub_resource,
            object: &payload.object.skeleton,
            old_object: &payload.old_object,
        };
        splice::finish(plan(self, &view), &payload.object)
    }
}

#[cfg(test)]
mod annotation_tests;
#[cfg(test)]
mod pull_secret_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod volume_tests;
