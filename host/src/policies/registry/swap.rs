//! Hot swap: one reload re-reads the policies file and every module, loads only what changed,
//! and replaces the table in one step; it logs what changed in each policy and when `POST
//! /mutate` moves to another.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use super::load::{
    first_name, limits_for, load_spec, mirror_choices, read_module, specs, start_check,
};
use super::{History, PolicyRegistry, Slot, Table};
use crate::policies::change::Change;
use crate::policies::config::PolicySpec;
use crate::policies::{LoadedPolicy, PolicyError, PolicySource, ReloadReport};

impl PolicyRegistry {
    /// Re-reads the policies file and every module; swaps in what changed and validated, keeps
    /// the old version of what did not. Reloads are serialised; evaluations are never blocked.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let mut report = ReloadReport::default();
        if !matches!(self.inner.source, PolicySource::File(_)) {
            // The embedded module cannot change while the process runs.
            return report;
        }
        let specs = match specs(&self.inner.source, self.inner.embedded_check.as_ref()) {
            Ok(specs) => specs,
            Err(error) => {
                tracing::warn!(error = %crate::report::one_line(&error), "policies file rejected; keeping the current policies");
                report.config_error = Some(crate::report::one_line(&error));
                return report;
            }
        };
        let old = self.table();
        let mut table = Table {
            default_policy: first_name(&specs),
            slots: BTreeMap::new(),
        };
        let policies = specs.len();
        let share = self.inner.runtime.share(policies);
        for spec in specs {
            let old_slot = old.slots.get(&spec.name);
            let previous = old_slot.and_then(|slot| slot.active.clone());
            // A policy keeps its gate (and what it remembers) unless its share changed.
            let gate = match old_slot {
                Some(slot) if slot.gate.cap() == share => Arc::clone(&slot.gate),
                _ => Arc::new(self.inner.runtime.gate(policies)),
            };
            let old_mirror = old_slot.and_then(|slot| slot.mirror.as_ref());
            let mirror = match start_check(&spec, old_mirror) {
                Ok(mirror) => mirror,
                Err(error) => {
                    let reason = crate::report::one_line(&error);
                    tracing::warn!(policy = %spec.name, error = %reason, "new mirror check rejected; the previous one keeps running");
                    self.record(&spec.name, Some(reason.clone()));
                    report.rejected.push((spec.name.clone(), reason));
                    old_mirror.cloned()
                }
            };
            let active = match self.reload_one(&spec, previous.as_ref()).await {
                Ok(None) => previous,
                Ok(Some(loaded)) => {
                    let change = Change::between(previous.as_deref(), &loaded);
                    tracing::info!(
                        policy = %spec.name,
                        sha256 = %loaded.sha256,
                        changed = %change,
                        settings_sha256 = %change.settings_digests(),
                        "policy version swapped in"
                    );
                    self.record(&spec.name, None);
                    report.swapped.push(spec.name.clone());
                    report.changes.push((spec.name.clone(), change.to_string()));
                    Some(Arc::new(loaded))
                }
                Err(error) => {
                    let reason = crate::report::one_line(&error);
                    tracing::warn!(policy = %spec.name, error = %reason, "new policy version rejected; the previous one keeps serving");
                    self.record(&spec.name, Some(reason.clone()));
                    report.rejected.push((spec.name.clone(), reason));
                    previous
                }
            };
            let slot = Slot {
                module_path: spec.module.path().map(ToOwned::to_owned),
                active,
                gate,
                mirror,
            };
            table.slots.insert(spec.name, slot);
        }
        announce_default(&old, &table, &mut report);
        *self
            .inner
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        report
    }

    /// `Ok(None)` when the active version already matches the spec and the module bytes.
    async fn reload_one(
        &self,
        spec: &PolicySpec,
        previous: Option<&Arc<LoadedPolicy>>,
    ) -> Result<Option<LoadedPolicy>, PolicyError> {
        let runtime = &self.inner.runtime;
        // Read once: the same bytes decide whether anything changed and are what gets loaded.
        let bytes = read_module(&self.inner.fetcher, spec).await?;
        if let Some(active) = previous
            && active.sha256 == crate::wasm::sha256_hex(&bytes)
            && active.settings == spec.settings
            && active.allowed_to_mutate == spec.allowed_to_mutate
            && active.limits() == limits_for(runtime, spec.timeout)
            && active.mirror_choices() == mirror_choices(spec)
        {
            return Ok(None);
        }
        load_spec(runtime, spec, bytes).await.map(Some)
    }

    fn record(&self, policy: &str, rejection: Option<String>) {
        let mut history = self
            .inner
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry: &mut History = history.entry(policy.to_owned()).or_default();
        match rejection {
            None => entry.ok += 1,
            Some(reason) => {
                entry.rejected += 1;
                entry.last_error = Some(reason);
            }
        }
    }
}

/// Says loudly when a reload moves `POST /mutate` to another policy, and when the policy it now
/// serves cannot answer (the file's new first entry did not load).
fn announce_default(old: &Table, new: &Table, report: &mut ReloadReport) {
    if old.default_policy != new.default_policy {
        tracing::warn!(
            from = %old.default_policy,
            to = %new.default_policy,
            "POST /mutate now serves policy {:?} instead of {:?}: the policies file's first entry changed",
            new.default_policy,
            old.default_policy
        );
        report.default_changed = Some((old.default_policy.clone(), new.default_policy.clone()));
    }
    if new
        .slots
        .get(&new.default_policy)
        .is_none_or(|slot| slot.active.is_none())
    {
        tracing::error!(
            policy = %new.default_policy,
            "POST /mutate cannot answer: policy {:?}, the policies file's first entry, has no loaded version; /readyz fails until it loads",
            new.default_policy
        );
    }
}
