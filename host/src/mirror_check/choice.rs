//! Which mirror a policy rewrites to, from the checks so far: each mirror is up or down on its
//! own (down after the threshold of failures in a row, up again at the first answer), and the
//! choice is the first that is up in priority order, or none, when the policy falls back to the
//! images' own registries.

/// Up or down from one mirror's results so far.
#[derive(Debug)]
pub(super) struct Tracker {
    threshold: u32,
    pub(super) failures: u32,
    pub(super) up: bool,
}

impl Tracker {
    pub(super) fn new(threshold: u32) -> Self {
        Self {
            threshold,
            failures: 0,
            up: true,
        }
    }

    /// Records one check; the new state when it changed.
    pub(super) fn record(&mut self, answered: bool) -> Option<bool> {
        self.failures = if answered {
            0
        } else {
            self.failures.saturating_add(1)
        };
        let up = answered || (self.up && self.failures < self.threshold);
        (up != self.up).then(|| {
            self.up = up;
            up
        })
    }
}

/// The mirrors' trackers, in priority order, and the choice they make.
#[derive(Debug)]
pub(super) struct Chooser {
    pub(super) trackers: Vec<Tracker>,
    choice: Option<usize>,
}

/// A change of choice: the mirror rewritten to before and after (`None`: the source registries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Change {
    pub(super) from: Option<usize>,
    pub(super) to: Option<usize>,
}

impl Chooser {
    /// Every mirror counts as up until its threshold is reached, so the first is chosen.
    pub(super) fn new(mirrors: usize, threshold: u32) -> Self {
        Self {
            trackers: (0..mirrors).map(|_| Tracker::new(threshold)).collect(),
            choice: (mirrors > 0).then_some(0),
        }
    }

    /// Records one round of checks, one result per mirror in priority order; the change of
    /// choice, if any.
    pub(super) fn record(&mut self, answered: &[bool]) -> Option<Change> {
        for (tracker, &answered) in self.trackers.iter_mut().zip(answered) {
            tracker.record(answered);
        }
        let choice = self.trackers.iter().position(|t| t.up);
        (choice != self.choice).then(|| {
            let change = Change {
                from: self.choice,
                to: choice,
            };
            self.choice = choice;
            change
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_the_threshold_up_at_the_first_answer() {
        // (threshold, results, state after each result)
        let cases: &[(u32, &[bool], &[bool])] = &[
            (
                3,
                &[false, false, false, false],
                &[true, true, false, false],
            ),
            (3, &[false, false, true, false, false], &[true; 5]),
            (1, &[false, true, false], &[false, true, false]),
            (
                2,
                &[true, false, false, true, true],
                &[true, true, false, true, true],
            ),
        ];
        for (threshold, results, states) in cases {
            let mut tracker = Tracker::new(*threshold);
            let mut previous = true;
            for (i, (&answered, &state)) in results.iter().zip(states.iter()).enumerate() {
                let changed = tracker.record(answered);
                let case = format!("threshold {threshold}, {results:?} at {i}");
                assert_eq!(tracker.up, state, "{case}");
                assert_eq!(changed, (state != previous).then_some(state), "{case}");
                previous = state;
            }
        }
    }

    #[test]
    fn the_first_mirror_that_is_up_is_chosen_and_each_change_reported_once() {
        const T: bool = true;
        const F: bool = false;
        // Two mirrors, threshold 2: (answers of a and b, change reported as (from, to)).
        type Round = ([bool; 2], Option<(Option<usize>, Option<usize>)>);
        let rounds: &[Round] = &[
            ([T, T], None),
            ([F, T], None),
            // a down at its second failure: b.
            ([F, T], Some((Some(0), Some(1)))),
            ([F, F], None),
            // b down too: the source registries.
            ([F, F], Some((Some(1), None))),
            ([F, F], None),
            // b answers first: b at once.
            ([F, T], Some((None, Some(1)))),
            // a answers: back to a at once, b being up does not hold it.
            ([T, T], Some((Some(1), Some(0)))),
            ([T, F], None),
            ([T, F], None),
            ([T, F], None),
        ];
        let mut chooser = Chooser::new(2, 2);
        for (i, (answers, change)) in rounds.iter().enumerate() {
            let want = change.map(|(from, to)| Change { from, to });
            assert_eq!(chooser.record(answers), want, "round {i}");
        }
    }

    #[test]
    fn one_mirror_is_up_or_down() {
        let mut chooser = Chooser::new(1, 1);
        assert_eq!(
            chooser.record(&[false]),
            Some(Change {
                from: Some(0),
                to: None
            })
        );
        assert_eq!(chooser.record(&[false]), None);
        assert_eq!(
            chooser.record(&[true]),
            Some(Change {
                from: None,
                to: Some(0)
            })
        );
    }
}
