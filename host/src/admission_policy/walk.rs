//! The CEL of the policy's admission walk (`mutate.rs`): which objects are left alone, where
//! each kind keeps its pod spec, the containers and image volumes whose image an admission may
//! change, the pull secrets, the originals annotation, and the JSON patch.

use pullthrough_policy::{
    Description, MAX_ANNOTATIONS_BYTES, OPT_OUT_KEY, ORIGINAL_IMAGES_ANNOTATION,
};

use super::Named;
use super::cel::{fill, regex, string, string_list};

/// One `"name": "image"` member of the originals annotation: JSON strings without a character
/// that needs escaping (a container name or image never has one), JSON's whitespace around the
/// colon.
const ORIGINALS_MEMBER: &str = r#""[^"\\\x00-\x1f]*"[ \t\n\r]*:[ \t\n\r]*"[^"\\\x00-\x1f]*""#;

/// JSON's whitespace.
const WS: &str = r"[ \t\n\r]*";

/// A whole originals annotation [`ORIGINALS_MEMBER`] can read: a JSON object of such members.
fn originals_object() -> String {
    format!(r"^{WS}\{{{WS}(?:{ORIGINALS_MEMBER}(?:{WS},{WS}{ORIGINALS_MEMBER})*)?{WS}\}}{WS}$")
}

/// The conditions under which the policy runs at all: its own, then the webhook's registration
/// conditions (a static pod, an UPDATE that changes no image, an object whose every image is on
/// the mirror or a rule's target), which skip what the rewrite would leave unchanged anyway, so a
/// ReplicaSet made from a rewritten template costs no evaluation of the variables.
pub(super) fn match_conditions(description: &Description<'_>) -> Vec<Named> {
    let key = string(OPT_OUT_KEY);
    let mut conditions = vec![
        Named::new(
            "not-in-kube-system",
            "// The binding's namespaceSelector already leaves kube-system out; this holds should the
// selector be edited away, as the webhook's server refuses a rewrite there whatever reaches it.
request.namespace != 'kube-system'",
        ),
        Named::new(
            "not-opted-out",
            fill(
                "// @KEY@: 'false' as a label or annotation of the object, its pod template or a
// CronJob's job template leaves the object alone.
![object.metadata,
  object.?spec.?template.?metadata.orValue({}),
  object.?spec.?jobTemplate.?metadata.orValue({}),
  object.?spec.?jobTemplate.?spec.?template.?metadata.orValue({})
].exists(m, m.?labels[?@KEY@].orValue('') == 'false' || m.?annotations[?@KEY@].orValue('') == 'false')",
                &[("KEY", &key)],
            ),
        ),
    ];
    let mut cache_prefixes: Vec<String> = Vec::new();
    for target in
        std::iter::once(&description.mirror).chain(description.rules.iter().map(|r| &r.target))
    {
        let prefix = format!("{}/", target.host);
        if !cache_prefixes.contains(&prefix) {
            cache_prefixes.push(prefix);
        }
    }
    conditions.extend(
        crate::k8s::match_conditions(&cache_prefixes)
            .into_iter()
            .map(|c| Named::new(&c.name, c.expression)),
    );
    conditions
}

/// `object` or `oldObject` at the request's pod spec, as an optional.
fn pod_spec_of(object: &str) -> String {
    fill(
        "request.kind.kind == 'Pod' ? @O@.?spec
  : request.kind.kind == 'CronJob' ? @O@.?spec.?jobTemplate.?spec.?template.?spec
  : @O@.?spec.?template.?spec",
        &[("O", object)],
    )
}

/// The variables before the rewrite's: the pod spec, its containers and image volumes.
pub(super) fn containers() -> Vec<Named> {
    vec![
        Named::new(
            "podSpecPath",
            "// Where the kind keeps its pod spec (JSON pointer).
request.kind.kind == 'Pod' ? '/spec'
  : request.kind.kind == 'CronJob' ? '/spec/jobTemplate/spec/template/spec'
  : '/spec/template/spec'",
        ),
        Named::new(
            "podSpec",
            format!(
                "// The pod spec (none in a ReplicationController without a template).\n{}",
                pod_spec_of("object")
            ),
        ),
        Named::new(
            "oldPodSpec",
            format!(
                "request.operation != 'UPDATE' ? optional.none()\n  : {}",
                pod_spec_of("oldObject").replace("\n  ", "\n    ")
            ),
        ),
        Named::new(
            "containerLists",
            "// kubectl debug adds an ephemeral container through the ephemeralcontainers subresource,
// which takes nothing else from the object.
request.?subResource.orValue('') == 'ephemeralcontainers' ? ['ephemeralContainers']
  : ['initContainers', 'containers', 'ephemeralContainers']",
        ),
        Named::new(
            "containers",
            "// Every container with an image, by list and index; an UPDATE that leaves a container's
// image as it was does not change it (a pod's container would restart, and an existing
// ephemeral container cannot change). A container without a name (refused by validation
// later) is called list[index].
variables.containerLists.map(list,
  variables.podSpec.orValue({})[?list].orValue([]).transformList(i, c,
    c.?image.orValue('') != ''
      && !(c.?name.hasValue() && variables.oldPodSpec.orValue({})[?list].orValue([])
             .exists(old, old.?name == c.?name && old.?image == c.?image)),
    {'list': list,
     'index': string(i),
     'name': string(c.?name.orValue(list + '[' + string(i) + ']')),
     'field': 'image',
     'image': string(c.image)})
).flatten()",
        ),
        Named::new(
            "imageVolumes",
            "// Every image volume (volumes[].image.reference, which the kubelet pulls as it pulls a
// container's image), by index, as variables.containers has them; kubectl debug's subresource
// changes no volume. The originals annotation names one volume:NAME.
request.?subResource.orValue('') == 'ephemeralcontainers' ? []
  : variables.podSpec.orValue({}).?volumes.orValue([]).transformList(i, v,
      v.?image.?reference.orValue('') != ''
        && !(v.?name.hasValue() && variables.oldPodSpec.orValue({}).?volumes.orValue([])
               .exists(old, old.?name == v.?name && old.?image.?reference == v.?image.?reference)),
      {'list': 'volumes',
       'index': string(i),
       'name': 'volume:' + string(v.?name.orValue('volumes[' + string(i) + ']')),
       'field': 'image/reference',
       'image': string(v.image.reference)})",
        ),
        Named::new(
            "holders",
            "// Every container and image volume whose image the admission may change.
variables.containers + variables.imageVolumes",
        ),
    ]
}

/// The variables after the rewrite's: the edits, pull secrets and originals.
pub(super) fn edits(description: &Description<'_>) -> Vec<Named> {
    let secrets = string_list(description.pull_secrets);
    let mut variables = Vec::new();
    let mut guards = String::new();
    if description.keep_images_with_pull_secrets {
        variables.push(Named::new(
            "keepsItsPullSecrets",
            fill(
                "// keepImagesWithPullSecrets: a pod spec that names a pull secret other than the mirror's
// keeps its images.
variables.podSpec.orValue({}).?imagePullSecrets.orValue([])
  .exists(s, !(s.?name.orValue('') in @SECRETS@))",
                &[("SECRETS", &secrets)],
            ),
        ));
        guards.push_str("variables.keepsItsPullSecrets ? [] :\n");
    }
    if !description.pull_secrets.is_empty() {
        variables.push(Named::new(
            "missingPullSecrets",
            fill(
                "// imagePullSecrets: the mirror's secrets the pod spec does not name yet.
@SECRETS@.filter(name, !variables.podSpec.orValue({}).?imagePullSecrets.orValue([])
  .exists(s, s.?name.orValue('') == name))",
                &[("SECRETS", &secrets)],
            ),
        ));
        guards.push_str(
            "// A Pod's imagePullSecrets cannot change once it exists: without the mirror's, it keeps
// its images (they would not pull from the mirror).
request.kind.kind == 'Pod' && request.operation == 'UPDATE'
  && variables.missingPullSecrets.size() > 0 ? [] :\n",
        );
    }
    variables.push(Named::new(
        "edits",
        format!(
            "// The containers and image volumes whose image changes.\n{guards}variables.holders.filter(c, c.image in variables.rewrites)"
        ),
    ));
    variables.push(Named::new(
        "recordedOriginals",
        fill(
            "// [name, image] pairs an earlier admission recorded in @ANNOTATION@: a JSON object of
// strings, as the policy writes it or reformatted. Anything else is replaced, as the webhook
// replaces what is not such an object. m.split('\"') is ['', name, ':', image, ''].
object.metadata.?annotations[?@ANNOTATION@].orValue('').matches(@OBJECT@)
  ? object.metadata.annotations[@ANNOTATION@].findAll(@MEMBER@)
      .map(m, m.split('\"')).map(p, [p[1], p[3]])
  : []",
            &[
                ("ANNOTATION", &string(ORIGINAL_IMAGES_ANNOTATION)),
                ("OBJECT", &regex(&originals_object())),
                ("MEMBER", &regex(ORIGINALS_MEMBER)),
            ],
        ),
    ));
    variables.push(Named::new(
        "originals",
        "// The annotation's new value: container name -> image as written, the recorded pairs with this
// admission's edits over them, sorted by name (a later pair for a name wins).
'{' + (variables.recordedOriginals.map(p, p[0]) + variables.edits.map(c, c.name)).distinct().sort()
  .map(name, '\"' + name + '\":\"' + (variables.edits.exists(c, c.name == name)
      ? variables.edits.filter(c, c.name == name).reverse()[0].image
      : variables.recordedOriginals.filter(p, p[0] == name).reverse()[0][1]) + '\"')
  .join(',') + '}'",
    ));
    variables.push(Named::new(
        "originalsFit",
        fill(
            "// The API server refuses an object whose annotations, keys and values, pass @LIMIT@ bytes;
// without the originals annotation it accepts it (the webhook leaves it out, with a warning).
object.metadata.?annotations.orValue({})
  .map(k, k == @ANNOTATION@ ? 0 : size(bytes(k)) + size(bytes(object.metadata.annotations[k])))
  .sum() + size(bytes(@ANNOTATION@)) + size(bytes(variables.originals)) <= @LIMIT@",
            &[
                ("ANNOTATION", &string(ORIGINAL_IMAGES_ANNOTATION)),
                ("LIMIT", &MAX_ANNOTATIONS_BYTES.to_string()),
            ],
        ),
    ));
    variables
}

/// The JSON patch: the images, then the pull secrets, then the originals annotation.
pub(super) fn mutation(description: &Description<'_>) -> String {
    let secrets = if description.pull_secrets.is_empty() {
        String::new()
    } else {
        "
// The mirror's pull secrets, appended to the pod spec's.
+ (variables.edits.size() == 0 || variables.missingPullSecrets.size() == 0 ? []
   : variables.podSpec.value().?imagePullSecrets.hasValue()
     ? variables.missingPullSecrets.map(name, JSONPatch{
         op: 'add', path: variables.podSpecPath + '/imagePullSecrets/-', value: {'name': name}})
     : [JSONPatch{op: 'add', path: variables.podSpecPath + '/imagePullSecrets',
                  value: variables.missingPullSecrets.map(name, {'name': name})}])"
            .to_owned()
    };
    let annotation = string(ORIGINAL_IMAGES_ANNOTATION);
    let escaped = ORIGINAL_IMAGES_ANNOTATION
        .replace('~', "~0")
        .replace('/', "~1");
    fill(
        "variables.edits.map(c, JSONPatch{
  op: 'replace',
  path: variables.podSpecPath + '/' + c.list + '/' + c.index + '/' + c.field,
  value: variables.rewrites[c.image]})@SECRETS@
// The originals, but not through a subresource (the API server keeps the Pod's metadata).
+ (variables.edits.size() == 0 || request.?subResource.orValue('') != '' || !variables.originalsFit ? []
   : has(object.metadata.annotations)
     ? [JSONPatch{op: 'add', path: '/metadata/annotations/@ESCAPED@', value: variables.originals}]
     : [JSONPatch{op: 'add', path: '/metadata/annotations', value: {@ANNOTATION@: variables.originals}}])",
        &[
            ("SECRETS", &secrets),
            ("ESCAPED", &escaped),
            ("ANNOTATION", &annotation),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use regex::Regex;

    use super::*;

    /// The pairs `recordedOriginals` reads from `annotation`, as its CEL does; the last pair for
    /// a name wins, as in `originals`.
    fn read(annotation: &str) -> BTreeMap<String, String> {
        let object = Regex::new(&originals_object()).expect("compiles");
        let member = Regex::new(ORIGINALS_MEMBER).expect("compiles");
        if !object.is_match(annotation) {
            return BTreeMap::new();
        }
        member
            .find_iter(annotation)
            .map(|m| {
                let parts: Vec<&str> = m.as_str().split('"').collect();
                (parts[1].to_owned(), parts[3].to_owned())
            })
            .collect()
    }

    #[test]
    fn recorded_originals_are_read_as_the_policy_reads_json() {
        for annotation in [
            r#"{"a":"nginx:1","b":"ghcr.io/o/b@sha256:00"}"#,
            r#"{ "a" : "nginx:1" ,
                "b":"x" }"#,
            "{}",
            " {\t} ",
            r#"{"a":"1","a":"2"}"#,
            r#"{"a":1}"#,
            r#"{"a":"1",}"#,
            r#"["a","1"]"#,
            r#"{"a":"1"}{"b":"2"}"#,
            r#"{"a":"1""b":"2"}"#,
            r#"{"a":null}"#,
            "not json",
            "",
        ] {
            let policy: BTreeMap<String, String> =
                serde_json::from_str(annotation).unwrap_or_default();
            assert_eq!(read(annotation), policy, "{annotation:?}");
        }
    }
}
