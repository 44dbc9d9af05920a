//! [`Index`]: each scanned object's controller found among the others, and the object at the
//! top of its chain of controllers.

use std::collections::HashMap;

use crate::scan::evaluate::Scanned;

/// Finds an object's controller among the scanned objects: by uid (objects from a cluster),
/// else by namespace, kind and name (manifests).
pub(super) struct Index<'a> {
    by_uid: HashMap<&'a str, usize>,
    by_name: HashMap<(&'a str, &'a str, &'a str), usize>,
}

impl<'a> Index<'a> {
    pub(super) fn new(objects: &'a [Scanned]) -> Self {
        let mut by_uid = HashMap::new();
        let mut by_name = HashMap::new();
        for (at, scanned) in objects.iter().enumerate() {
            let object = &scanned.object;
            if let Some(uid) = &object.uid {
                by_uid.insert(uid.as_str(), at);
            }
            by_name.insert(
                (
                    object.namespace.as_str(),
                    object.kind.as_str(),
                    object.name.as_str(),
                ),
                at,
            );
        }
        Self { by_uid, by_name }
    }

    pub(super) fn controller(&self, objects: &[Scanned], at: usize) -> Option<usize> {
        let scanned = &objects[at];
        let owner = scanned.owner.as_ref()?;
        if let Some(uid) = &owner.uid
            && let Some(&found) = self.by_uid.get(uid.as_str())
        {
            return Some(found);
        }
        let key = (
            scanned.object.namespace.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
        );
        self.by_name.get(&key).copied()
    }

    /// The top of `at`'s chain of controllers within the scan (`at` itself when it has none).
    pub(super) fn root(&self, objects: &[Scanned], at: usize) -> usize {
        let mut current = at;
        // Controllers nest at most three deep (CronJob → Job → Pod); the bound only stops a
        // cycle in hand-written manifests.
        for _ in 0..8 {
            match self.controller(objects, current) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    }
}
