use super::*;

#[test]
fn series_carry_only_policy_outcome_and_kind() {
    let metrics = Metrics::new();
    let policy = metrics.policy("mirror");
    policy.record(Outcome::mutated, 0.0003);
    policy.record(Outcome::mutated, 0.0003);
    policy.images_rewritten.inc_by(3);
    metrics.evaluation_error("mirror", "timeout");
    metrics.set_reloads("mirror", 2, 1);
    // A scrape that reads older counts never moves a counter back.
    metrics.set_reloads("mirror", 1, 1);
    metrics.set_certificate_expiry(1_900_000_000);
    metrics.set_mirror("mirror", Some(1), 2);
    metrics.set_mirror("mirror", None, 3);
    metrics.set_mirror("mirror", None, 1);
    let text = metrics.encode().expect("encode");
    for line in [
        "pullthrough_admission_requests_total{policy=\"mirror\",outcome=\"mutated\"} 2",
        "pullthrough_admission_requests_total{policy=\"mirror\",outcome=\"allowed\"} 0",
        "pullthrough_admission_duration_seconds_count{policy=\"mirror\"} 2",
        "pullthrough_admission_duration_seconds_bucket{le=\"0.0004\",policy=\"mirror\"} 2",
        "pullthrough_images_rewritten_total{policy=\"mirror\"} 3",
        "pullthrough_evaluation_errors_total{policy=\"mirror\",kind=\"timeout\"} 1",
        "pullthrough_policy_reloads_total{policy=\"mirror\",result=\"accepted\"} 2",
        "pullthrough_policy_reloads_total{policy=\"mirror\",result=\"rejected\"} 1",
        "pullthrough_certificate_expiry_timestamp_seconds 1900000000",
        "pullthrough_mirror_up{policy=\"mirror\"} 0",
        "pullthrough_mirror_choice{policy=\"mirror\"} -1",
        "pullthrough_mirror_transitions_total{policy=\"mirror\"} 3",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn every_metric_exists_from_the_start_and_none_that_cannot_move() {
    let metrics = Metrics::new();
    metrics.prepare(&["mirror".to_owned()], &["timeout", "trap"]);
    let text = metrics.encode().expect("encode");
    for line in [
        "pullthrough_admission_requests_total{policy=\"mirror\",outcome=\"mutated\"} 0",
        "pullthrough_admission_requests_total{policy=\"unknown\",outcome=\"invalid\"} 0",
        "pullthrough_admission_duration_seconds_count{policy=\"mirror\"} 0",
        "pullthrough_images_rewritten_total{policy=\"mirror\"} 0",
        "pullthrough_evaluation_errors_total{policy=\"mirror\",kind=\"timeout\"} 0",
        "pullthrough_evaluation_errors_total{policy=\"mirror\",kind=\"trap\"} 0",
        "pullthrough_policy_reloads_total{policy=\"mirror\",result=\"accepted\"} 0",
        "pullthrough_policy_reloads_total{policy=\"mirror\",result=\"rejected\"} 0",
        "pullthrough_unrouted_requests_total{reason=\"not_found\"} 0",
        "pullthrough_unrouted_requests_total{reason=\"method_not_allowed\"} 0",
        "pullthrough_certificate_expiry_timestamp_seconds 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    metrics.unknown_policy();
    let text = metrics.encode().expect("encode");
    let unknown: Vec<_> = text
        .lines()
        .filter(|l| l.contains("policy=\"unknown\""))
        .collect();
    assert_eq!(
        unknown,
        ["pullthrough_admission_requests_total{policy=\"unknown\",outcome=\"invalid\"} 1"]
    );
}

#[test]
fn the_same_policy_resolves_to_the_same_series() {
    let metrics = Metrics::new();
    let a = metrics.policy("mirror");
    let b = metrics.policy("mirror");
    assert!(Arc::ptr_eq(&a, &b));
}
