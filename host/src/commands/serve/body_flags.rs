//! `serve`'s bound on the request bodies held in memory at once (`--max-buffered-body-mib`).

use crate::server::{BUDGET_WAIT, DEFAULT_BODY_BUDGET_BYTES, MAX_BODY_BYTES};

const MIB: usize = 1024 * 1024;

/// How much of the admission port's traffic may sit in memory.
#[derive(Debug, Clone, clap::Args)]
pub struct BodyArgs {
    /// MiB of request bodies all requests together may hold in memory (at least 7, the largest
    /// review). A request past it waits up to a second for room, then gets 429 with
    /// Retry-After. The default kept peak memory within the install's limit under 16 clients
    /// posting 7 MB reviews (BENCHMARKS.md).
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = DEFAULT_BODY_BUDGET_BYTES / MIB,
        value_parser = budget_mib,
        env = "PULLTHROUGH_MAX_BUFFERED_BODY_MIB"
    )]
    pub max_buffered_body_mib: usize,
}

impl BodyArgs {
    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.max_buffered_body_mib * MIB
    }
}

/// At least one body of the largest size must fit, or such a review could never be answered.
fn budget_mib(value: &str) -> Result<usize, String> {
    let smallest = MAX_BODY_BYTES.div_ceil(MIB);
    match value.parse::<usize>() {
        Ok(mib) if (smallest..=1024 * 1024).contains(&mib) => Ok(mib),
        _ => Err(format!(
            "must be a whole number of MiB from {smallest} (one review of the largest size) to \
             1048576; a request past it waits {} s for room, then gets 429",
            BUDGET_WAIT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_holds_at_least_one_review_of_the_largest_size() {
        assert_eq!(budget_mib("7"), Ok(7));
        assert_eq!(budget_mib("28"), Ok(28));
        assert_eq!(
            budget_mib("6"),
            Err("must be a whole number of MiB from 7 (one review of the largest size) to 1048576; a request past it waits 1 s for room, then gets 429".to_owned())
        );
        assert!(budget_mib("lots").is_err());
    }
}
