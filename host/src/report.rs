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

/// `error: cause: cause`, for a log field or a status.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    for (i, cause) in chain(error).enumerate() {
        if i > 0 {
            text.push_str(": ");
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{cause}");
    }
    text
}

/// anyhow's report layout (the error, then its causes), but never a backtrace: the reader of a
/// fatal error needs what to fix, not where in our code it was noticed.
pub fn fatal(error: &(dyn Error + 'static)) -> String {
    let mut causes = chain(error);
    let mut text = format!(
        "Error: {}\n",
        causes.next().map(ToString::to_string).unwrap_or_default()
    );
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
}
