//! Every warning names its container (or volume) and the reason within 256 characters, for the
//! longest references of the reference and rewrite tables, through the whole walk.

use serde_json::{Value, json};

use super::*;
use crate::rewrite::Layout;
use crate::rewrite::{Rewrite, Rewriter};
use crate::settings::Settings;

/// The longest name the API server accepts for a container or volume.
const LONGEST_NAME: &str = "the-longest-container-name-a-dns-label-allows-is-sixty-three-ch";

fn rewriter(mirror: &str, layout: Layout) -> Rewriter {
    Settings {
        mirror: mirror.to_owned(),
        layout,
        registries: Some(vec!["*".into()]),
        allow_shared_namespace: true,
        ..Settings::default()
    }
    .compile()
    .expect("valid settings")
}

/// Every image of both tables, longest first.
fn table_images() -> Vec<String> {
    let mut images = crate::reference::tests::table_images();
    images.extend(crate::rewrite::tests::table_images());
    images.sort_by_key(|image| std::cmp::Reverse(image.chars().count()));
    images.dedup();
    images
}

fn pod(holder: Holder, name: &str, image: &str) -> Value {
    let spec = match holder {
        Holder::Container => json!({"containers": [{"name": name, "image": image}]}),
        Holder::Volume => json!({
            "containers": [{"name": "app", "image": "m.example.com/app:1"}],
            "volumes": [{"name": name, "image": {"reference": image}}]
        }),
    };
    json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE",
           "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}})
}

#[test]
fn every_warning_of_the_tables_names_its_holder_and_reason_within_the_limit() {
    assert_eq!(LONGEST_NAME.len(), 63);
    let images = table_images();
    assert!(
        images[0].chars().count() > MAX_WARNING_CHARS,
        "the tables' longest reference should not fit a warning on its own"
    );
    let rewriters = [
        rewriter("m.example.com", Layout::Flat),
        // A long mirror path: more of the table fails after the rewrite.
        rewriter(
            "mirror.registry.example.com:5000/a/cache/path/long/enough",
            Layout::Prefixed,
        ),
    ];
    let mut checked = 0;
    for rewriter in &rewriters {
        // An empty image is skipped by the walk (a template's placeholder), without a warning.
        for image in images.iter().filter(|image| !image.is_empty()) {
            let Err(error) = rewriter.rewrite(image) else {
                continue;
            };
            for holder in [Holder::Container, Holder::Volume] {
                let outcome = rewriter.mutate(&pod(holder, LONGEST_NAME, image));
                let [warning] = outcome.warnings.as_slice() else {
                    panic!(
                        "{image:?}: one warning expected, got {:?}",
                        outcome.warnings
                    );
                };
                assert!(
                    warning.chars().count() <= MAX_WARNING_CHARS,
                    "{} characters: {warning}",
                    warning.chars().count()
                );
                let head = format!(
                    "pullthrough: {} {LONGEST_NAME:?} left unchanged: ",
                    holder.noun()
                );
                assert!(warning.starts_with(&head), "{warning}");
                let reason = error.reason();
                let said = &warning[head.len()..];
                // The reason whole, or (past the room left for the image) its start and `…`.
                let reason_said = said.split("; image ").next().unwrap_or_default();
                match reason_said.strip_suffix('…') {
                    Some(start) => {
                        assert!(reason.starts_with(start) && start.len() > 80, "{warning}")
                    }
                    None => assert_eq!(reason_said, reason, "{warning}"),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} warnings checked");
}

#[test]
fn a_long_image_keeps_its_registry_and_its_tag() {
    let image = format!("ghcr.io/{}/app:v1.2.3", "a".repeat(300));
    let warning = left_unchanged(Holder::Container, "app", "some reason", &image);
    assert_eq!(warning.chars().count(), MAX_WARNING_CHARS);
    assert!(
        warning.starts_with(
            "pullthrough: container \"app\" left unchanged: some reason; image \"ghcr.io/aaa"
        ),
        "{warning}"
    );
    assert!(warning.ends_with("aaa/app:v1.2.3\""), "{warning}");
    assert_eq!(warning.matches('…').count(), 1, "{warning}");
}

#[test]
fn short_parts_are_left_whole() {
    assert_eq!(
        left_unchanged(Holder::Volume, "models", "why", "Nginx"),
        "pullthrough: volume \"models\" left unchanged: why; image \"Nginx\""
    );
}

#[test]
fn names_and_reasons_past_their_room_are_shortened() {
    let name = "n".repeat(300);
    let reason = "r".repeat(400);
    let warning = left_unchanged(Holder::Container, &name, &reason, "nginx\"quoted\"");
    assert!(warning.chars().count() <= MAX_WARNING_CHARS, "{warning}");
    assert!(
        warning.contains(&format!("{}…; image", "r".repeat(20))),
        "{warning}"
    );
    let quoted_name = format!("\"{}…{}\"", "n".repeat(31), "n".repeat(31));
    assert!(
        warning.starts_with(&format!(
            "pullthrough: container {quoted_name} left unchanged: rrr"
        )),
        "{warning}"
    );
    // The image keeps at least its minimum room, escapes counted.
    let image = warning.rsplit("; image ").next().unwrap_or_default();
    assert_eq!(image, "\"nginx\\\"quoted\\\"\"");
}

#[test]
fn escapes_count_against_the_room() {
    let image = "\"".repeat(200);
    let quoted = quoted(&image, 20, shorten_middle);
    assert!(quoted.chars().count() <= 20, "{quoted}");
    assert!(quoted.contains('…'), "{quoted}");
}

#[test]
fn a_rewrite_that_fits_leaves_no_warning() {
    let rewriter = rewriter("m.example.com", Layout::Flat);
    assert!(matches!(
        rewriter.rewrite("nginx"),
        Ok(Rewrite::Rewritten(_))
    ));
    let outcome = rewriter.mutate(&pod(Holder::Volume, LONGEST_NAME, "nginx"));
    assert_eq!(outcome.warnings, Vec::<String>::new());
}
