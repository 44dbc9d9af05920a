//! How an error and its causes are shown, in one place for `main`, the policy reloader and the
//! certificate loop: on one line (`error: cause: cause`) for logs and statuses, or as a report
//! (the error, then `Caused by:` and each cause) for a fatal error. A message never repeats its
//! `#[source]`, so each cause appears once.

use std::error::Error;
use std::fmt::Write as _;

/// The error, then each of its sources in turn.
pub fn chain<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&error| error.source())
}

/// The messages of the error and its sources, each once: a foreign error (kube's, wasmtime's)
/// may print its source inside its own message and return it as `source()` as well; a cause
/// whose text the message before it already holds is left out.
fn messages(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    for cause in chain(error) {
        let text = cause.to_string();
        if messages
            .last()
            .is_some_and(|previous| previous.contains(&text))
        {
            continue;
        }
        messages.push(text);
    }
    messages
}

/// `error: cause: cause`, for a log field or a status.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    for (i, cause) in messages(error).iter().enumerate() {
        if i > 0 {
            text.push_str(": ");
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{cause}");
    }
    text
}

/// A fatal error's report (the error, then `Caused by:` and each cause), but never a backtrace:
/// the reader of a fatal error needs what to fix, not where in our code it was noticed.
pub fn fatal(error: &(dyn Error + 'static)) -> String {
    let messages = messages(error);
    let mut causes = messages.iter();
    let mut text = format!("Error: {}\n", causes.next().cloned().unwrap_or_default());
    let mut causes = causes.peekable();
    if causes.peek().is_some() {
        text.push_str("\nCaused by:\n");
        for cause in causes {
            let _ = writeln!(text, "    {cause}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("could not load policy p")]
        Load(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("module does not compile")]
    struct Inner;

    #[test]
    fn each_cause_appears_once() {
        let error = Outer::Load(Inner);
        assert_eq!(
            one_line(&error),
            "could not load policy p: module does not compile"
        );
        assert_eq!(
            fatal(&error),
            "Error: could not load policy p\n\nCaused by:\n    module does not compile\n"
        );
        assert_eq!(fatal(&Inner), "Error: module does not compile\n");
    }

    /// Like kube's `InferConfigError`: the message holds the source's text.
    #[derive(Debug, thiserror::Error)]
    #[error("failed to infer config: kubeconfig: ({0})")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("no cluster")]
    struct Top(#[source] Repeats);

    #[test]
    fn a_cause_already_in_the_message_before_it_is_left_out() {
        let error = Top(Repeats(std::io::Error::other("no such file")));
        assert_eq!(
            fatal(&error),
            "Error: no cluster\n\nCaused by:\n    failed to infer config: kubeconfig: (no such file)\n"
        );
        assert_eq!(
            one_line(&error),
            "no cluster: failed to infer config: kubeconfig: (no such file)"
        );
    }
}
