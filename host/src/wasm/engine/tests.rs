use super::*;

#[tokio::test]
async fn a_call_that_panics_fails_alone_inline_and_on_the_blocking_pool() {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrency: 2,
        inline_calls: 1,
        pooling: false,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let gate = runtime.gate(1);
    let inline = runtime
        .run_gated(&gate, || -> Result<(), CallError> { panic!("inline") })
        .await;
    assert!(matches!(inline, Err(CallError::Task(_))), "{inline:?}");
    // After a timeout the policy's calls go to the blocking pool.
    gate.note_timeout();
    let pooled = runtime
        .run_gated(&gate, || -> Result<(), CallError> { panic!("pooled") })
        .await;
    assert!(matches!(pooled, Err(CallError::Task(_))), "{pooled:?}");
    let answer = runtime.run_gated(&gate, || Ok::<_, CallError>(7)).await;
    assert_eq!(answer.expect("runs").expect("answers"), 7);
}

#[tokio::test]
async fn a_call_that_hits_its_deadline_is_remembered_by_its_gate() {
    let runtime = Runtime::new(RuntimeConfig {
        pooling: false,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let gate = runtime.gate(1);
    let failed = runtime
        .run_gated(&gate, || Err::<(), _>(CallError::Guest("no".to_owned())))
        .await;
    assert!(matches!(failed, Ok(Err(CallError::Guest(_)))), "{failed:?}");
    assert!(!gate.timed_out_lately());
    let timed_out = runtime
        .run_gated(&gate, || {
            Err::<(), _>(CallError::Timeout(Duration::from_millis(5)))
        })
        .await;
    assert!(
        matches!(timed_out, Ok(Err(CallError::Timeout(_)))),
        "{timed_out:?}"
    );
    assert!(gate.timed_out_lately());
}
