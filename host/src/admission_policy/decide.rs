//! The CEL that decides each image's rewrite, as the policy's `Rewriter::rewrite` does: the
//! reference read as Go's distribution/reference reads it, then the cache hosts, the rules, the
//! selected registries and the layout, the exclusions, and the length containerd 1.7 allows.
//!
//! Each step is a variable holding one map of strings per image, so every name in the CEL says
//! what it is (CEL in Kubernetes has no `let`; a variable is evaluated once per admission).

use pullthrough_policy::{Description, Layout, TargetView};

use super::cel::{fill, regex, string, string_list};
use super::{Named, glob, grammar};

/// `variables.images` .. `variables.rewrites`, after the walk's `variables.holders`.
pub(super) fn variables(description: &Description<'_>) -> Vec<Named> {
    vec![
        Named::new(
            "images",
            "// Each distinct image once.\nvariables.holders.map(c, c.image).distinct()",
        ),
        Named::new("references", references()),
        Named::new("normalised", normalised()),
        Named::new("targets", targets(description)),
        Named::new("rewrites", rewrites(description)),
    ]
}

fn references() -> String {
    fill(
        r"// Each image split as Go's distribution/reference reads it (ParseNormalizedNamed):
//   suffix     [:tag][@@digest] as written, carried over unchanged (no :latest is added)
//   registry   'true' when the first component names a registry: it is localhost or holds
//              '.', ':' or an uppercase letter (docker.io and index.docker.io are Docker Hub)
//   remainder  the image without a leading docker.io/ or index.docker.io/
variables.images.map(image, {
  'image': image,
  'suffix': image.find(@SUFFIX@),
  'registry': string(image.matches(@REGISTRY_FIRST@) && !image.matches(@HUB_SPELLING@)),
  'remainder': image.matches(@HUB_SPELLING@) ? image.substring(image.indexOf('/') + 1) : image
})",
        &[
            ("SUFFIX", &regex(grammar::SUFFIX)),
            ("REGISTRY_FIRST", &regex(grammar::REGISTRY_FIRST)),
            ("HUB_SPELLING", &regex(grammar::HUB_SPELLING)),
        ],
    )
}

fn normalised() -> String {
    fill(
        r"// Each image's registry and repository path, and whether the container runtime would read it
// as a reference at all ('valid'). One that is not stays as it is, as with the webhook (which
// also warns).
variables.references.map(r, r.registry == 'true'
  ? {
      // Go's Parse of the whole image: its first component is the registry when it is a domain,
      // otherwise part of the path (and the image names no registry).
      'image': r.image,
      'suffix': r.suffix,
      'valid': string(r.image.matches(@REGISTRY_REFERENCE@)),
      'domain': r.image.matches(@DOMAIN_PREFIX@) ? r.image.substring(0, r.image.indexOf('/')) : '',
      'path': r.image.substring(r.image.matches(@DOMAIN_PREFIX@) ? r.image.indexOf('/') + 1 : 0,
                                size(r.image) - size(r.suffix))
    }
  : {
      // Docker Hub: a name of one component is an official image, below library/.
      'image': r.image,
      'suffix': r.suffix,
      'valid': string(!r.image.matches(@IDENTIFIER@) && r.remainder.matches(@HUB_REMAINDER@)),
      'domain': 'docker.io',
      'path': (r.remainder.contains('/') ? '' : 'library/')
              + r.remainder.substring(0, size(r.remainder) - size(r.suffix))
    })",
        &[
            ("REGISTRY_REFERENCE", &regex(&grammar::registry_reference())),
            ("DOMAIN_PREFIX", &regex(&grammar::domain_prefix())),
            ("IDENTIFIER", &regex(grammar::IDENTIFIER)),
            ("HUB_REMAINDER", &regex(&grammar::hub_remainder())),
        ],
    )
}

/// `host[/prefix]`.
fn target(target: &TargetView<'_>) -> String {
    if target.prefix.is_empty() {
        target.host.to_owned()
    } else {
        format!("{}/{}", target.host, target.prefix)
    }
}

fn targets(description: &Description<'_>) -> String {
    let cache_hosts: Vec<String> = std::iter::once(description.mirror.host)
        .chain(description.rules.iter().map(|rule| rule.target.host))
        .map(str::to_ascii_lowercase)
        .collect();
    let mut rules = String::new();
    for (i, rule) in description.rules.iter().enumerate() {
        rules.push_str(&format!(
            "\n    // rules[{i}]\n    : r.domain.lowerAscii() == {} ? {}",
            string(rule.registry),
            string(&target(&rule.target))
        ));
    }
    let not_selected = match description.registries {
        None => {
            "// registries: every registry (an image with one)\n    : r.domain == ''".to_owned()
        }
        Some([]) => "// registries: none\n    : true".to_owned(),
        Some(hosts) => format!(
            "// registries\n    : !(r.domain.lowerAscii() in {})",
            string_list(hosts)
        ),
    };
    let mirror = target(&description.mirror);
    let mirror_target = match description.layout {
        Layout::Flat => format!("// the flat layout\n    : {}", string(&mirror)),
        Layout::Prefixed => format!(
            "// the prefixed layout, where a port or an IPv6 address cannot be a path component\n    : r.domain.matches({}) ? ''\n    : {} + r.domain.lowerAscii()",
            regex(r"[:\[]"),
            string(&format!("{mirror}/"))
        ),
    };
    fill(
        r"// Where each image goes ('' for nowhere), in the webhook's order: an image the runtime would
// not read, or one already on the mirror or a rule's target, stays; a rule's registry goes to its
// target; a selected registry to the mirror.
variables.normalised.map(r, {
  'image': r.image,
  'path': r.path,
  'suffix': r.suffix,
  // What exclude patterns read: the registry in lowercase and the path.
  'name': r.domain.lowerAscii() + '/' + r.path,
  'target': r.valid != 'true' || size(r.path) > 255 ? ''
    // the mirror and the rules' targets
    : r.domain.lowerAscii() in @CACHE_HOSTS@ ? ''@RULES@
    @NOT_SELECTED@ ? ''
    @MIRROR_TARGET@
})",
        &[
            ("CACHE_HOSTS", &string_list(&cache_hosts)),
            ("RULES", &rules),
            ("NOT_SELECTED", &not_selected),
            ("MIRROR_TARGET", &mirror_target),
        ],
    )
}

fn rewrites(description: &Description<'_>) -> String {
    let exclude = match glob::to_regex(&description.exclude) {
        Some(pattern) => {
            let pattern = regex(&pattern);
            format!(
                "\n    // exclude: a pattern matches the whole reference or its name\n    && !(t.name + t.suffix).matches({pattern}) && !t.name.matches({pattern})"
            )
        }
        None => String::new(),
    };
    // A rewrite onto docker.io itself reads back with library/ added to a one-component path.
    let hub_target = std::iter::once(&description.mirror)
        .chain(description.rules.iter().map(|rule| &rule.target))
        .any(|t| t.host == "docker.io" && t.prefix.is_empty());
    let library = if hub_target {
        " + (t.target == 'docker.io' && !t.path.contains('/') ? 8 : 0)"
    } else {
        ""
    };
    fill(
        r"// image -> its rewrite (target/path[:tag][@@digest]), for the images that change. Never longer
// than the 255 characters containerd 1.7 allows a name, registry included.
variables.targets.filter(t, t.target != ''@EXCLUDE@
    && size(t.target) + 1 + size(t.path)@LIBRARY@ <= 255)
  .transformMapEntry(i, t, {t.image: t.target + '/' + t.path + t.suffix})",
        &[("EXCLUDE", &exclude), ("LIBRARY", library)],
    )
}
