//! `serve`'s log lines, written to stderr in batches by a thread of their own when stderr is a
//! pipe or a socket.
//!
//! Unbatched, every admission's line is one `write` to stderr from the worker that answered it.
//! Under Kubernetes stderr is a pipe that containerd's shim reads, so each of those writes also
//! wakes the shim (BENCHMARKS.md, "The log line"). Batched, a line is copied into memory and the
//! writer thread writes what has gathered:
//!
//! - a line logged while the writer is idle wakes it, and goes out at once;
//! - after each write the writer gathers for [`GATHER`], so under load the lines of about a
//!   millisecond go out in one write, with one wake-up;
//! - past [`HELD_MAX`] bytes (stderr blocked by a reader that stopped reading) a logging thread
//!   writes them itself, as unbatched, so a stuck reader slows logging as before and memory does
//!   not grow;
//! - [`flush`] writes whatever is held, in order: `main` calls it before printing a fatal error
//!   and before exiting, and a panic calls it before its message. A process killed outright
//!   loses at most the last [`GATHER`] of lines.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// How long the writer gathers lines after a write before it writes again.
const GATHER: Duration = Duration::from_millis(1);
/// Bytes held before a logging thread writes them itself.
const HELD_MAX: usize = 1 << 20;

static LINES: OnceLock<Arc<Lines>> = OnceLock::new();

/// The lines not yet written, and the writer thread's way to wait for them.
struct Lines {
    held: Mutex<Held>,
    more: Condvar,
    /// Where batches go (stderr), locked while one is written so that batches arrive in the
    /// order they were taken.
    output: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    /// The writer waits on `more`: the next line must wake it (else it will look by itself).
    writer_waiting: bool,
}

/// Where the log's lines go: held for the writer thread, or straight to stderr; under `serve`,
/// first held by the runtime worker that logged them ([`super::worker_lines`]).
#[derive(Clone)]
pub(crate) struct LogOutput(Option<Arc<Lines>>);

impl LogOutput {
    /// Each line a write of its own to stderr.
    pub(crate) fn direct() -> Self {
        Self(None)
    }

    /// Held by the runtime worker that logged them until it idles ([`super::worker_lines`]),
    /// then batched when stderr is a pipe or a socket, whose reader each write wakes
    /// (containerd's shim, journald); straight to stderr when it is a file or a terminal, which
    /// a write costs less than the hand-off to the writer thread (BENCHMARKS.md, "The log line").
    pub(crate) fn for_server() -> Self {
        let lines = if stderr_wakes_a_reader() {
            start()
                .inspect_err(|error| {
                    eprintln!(
                        "warning: log lines are written as logged: no log writer thread: {error}"
                    );
                })
                .ok()
        } else {
            None
        };
        let output = Self(lines);
        let sink = output.clone();
        super::worker_lines::start(Box::new(move |bytes| sink.emit(bytes)));
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A panic inside a `write` would find its own thread's locks taken: each of these
            // tries, and does not wait. The writer thread's lines are older than the workers'.
            if let Some(lines) = LINES.get() {
                lines.write_held_if_free();
            }
            super::worker_lines::write_all_held_if_free(&mut std::io::stderr());
            previous(info);
        }));
        output
    }

    /// Writes `bytes` on, without holding them for a worker.
    fn emit(&self, bytes: &[u8]) {
        match &self.0 {
            Some(lines) => lines.hold(bytes),
            None => write_out(&mut std::io::stderr(), bytes),
        }
    }
}

fn stderr_wakes_a_reader() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::FileTypeExt as _;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|meta| meta.file_type().is_fifo() || meta.file_type().is_socket())
}

fn start() -> std::io::Result<Arc<Lines>> {
    let lines = Arc::clone(LINES.get_or_init(|| Arc::new(Lines::new(std::io::stderr()))));
    Arc::clone(&lines).spawn_writer()?;
    Ok(lines)
}

/// Writes the lines held so far, by the runtime's workers and for the writer thread. Returns once
/// they are written.
pub fn flush() {
    super::worker_lines::write_all_held();
    if let Some(lines) = LINES.get() {
        lines.write_held(&mut Vec::new(), b"");
    }
}

impl Lines {
    fn new(output: impl Write + Send + 'static) -> Self {
        Self {
            held: Mutex::new(Held::default()),
            more: Condvar::new(),
            output: Mutex::new(Box::new(output)),
        }
    }

    fn spawn_writer(self: Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || self.run())
    }

    fn run(&self) {
        let mut spare = Vec::new();
        loop {
            {
                let mut held = lock(&self.held);
                while held.bytes.is_empty() {
                    held.writer_waiting = true;
                    held = self.more.wait(held).unwrap_or_else(PoisonError::into_inner);
                    held.writer_waiting = false;
                }
            }
            self.write_held(&mut spare, b"");
            std::thread::sleep(GATHER);
        }
    }

    /// Takes what is held (leaving `spare`'s allocation in its place) and writes it, then
    /// `after`, in one turn at the output.
    fn write_held(&self, spare: &mut Vec<u8>, after: &[u8]) {
        let mut output = lock(&self.output);
        std::mem::swap(&mut lock(&self.held).bytes, spare);
        write_out(&mut **output, spare);
        write_out(&mut **output, after);
        spare.clear();
        if spare.capacity() > HELD_MAX {
            *spare = Vec::new();
        }
    }

    fn write_held_if_free(&self) {
        let Ok(mut output) = self.output.try_lock() else {
            return;
        };
        let Ok(mut held) = self.held.try_lock() else {
            return;
        };
        let bytes = std::mem::take(&mut held.bytes);
        drop(held);
        write_out(&mut **output, &bytes);
    }

    fn hold(&self, line: &[u8]) {
        let mut held = lock(&self.held);
        if held.bytes.len() + line.len() > HELD_MAX {
            drop(held);
            self.write_held(&mut Vec::new(), line);
            return;
        }
        held.bytes.extend_from_slice(line);
        let wake = std::mem::take(&mut held.writer_waiting);
        drop(held);
        if wake {
            self.more.notify_one();
        }
    }
}

/// A failed write of the log has nowhere to be reported: the line is lost, as it would be
/// unbatched.
fn write_out(output: &mut dyn Write, bytes: &[u8]) {
    if !bytes.is_empty() {
        let _ = output.write_all(bytes);
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One log line at a time, as tracing-subscriber writes them: each `write` is a whole line.
pub(crate) struct LineWriter<'a>(&'a LogOutput);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        // Held if a worker of `serve` logged it; otherwise the workers' lines logged before this
        // one go first (both do nothing outside `serve`).
        if !super::worker_lines::hold(line) {
            super::worker_lines::write_all_held();
            self.0.emit(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogOutput {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An output the tests can read back.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).clone()).expect("utf-8")
        }
    }

    #[test]
    fn a_line_wakes_the_writer_only_when_it_waits() {
        let lines = Lines::new(Written::default());
        lines.hold(b"one\n");
        assert_eq!(lock(&lines.held).bytes, b"one\n");
        lock(&lines.held).writer_waiting = true;
        lines.hold(b"two\n");
        let held = lock(&lines.held);
        assert_eq!(held.bytes, b"one\ntwo\n");
        assert!(
            !held.writer_waiting,
            "the line that woke the writer clears the flag"
        );
    }

    #[test]
    fn the_writer_writes_what_is_held_in_order_and_keeps_its_allocation() {
        let written = Written::default();
        let lines = Lines::new(written.clone());
        lines.hold(b"one\n");
        lines.hold(b"two\n");
        let mut spare = Vec::with_capacity(64);
        lines.write_held(&mut spare, b"");
        assert!(spare.is_empty());
        assert!(
            lock(&lines.held).bytes.capacity() >= 64,
            "the spare buffer is reused"
        );
        lines.hold(b"three\n");
        lines.write_held(&mut spare, b"");
        assert_eq!(written.text(), "one\ntwo\nthree\n");
    }

    #[test]
    fn past_the_cap_lines_are_written_at_once_in_order_and_nothing_stays_held() {
        let written = Written::default();
        let lines = Lines::new(written.clone());
        let filler = vec![b'x'; HELD_MAX - 1];
        lines.hold(&filler);
        assert_eq!(lock(&lines.held).bytes.len(), HELD_MAX - 1);
        assert!(written.text().is_empty());
        lines.hold(b"\nlast\n");
        assert!(lock(&lines.held).bytes.is_empty());
        let text = written.text();
        assert_eq!(text.len(), HELD_MAX + 5);
        assert!(text.ends_with("x\nlast\n"), "{}", &text[text.len() - 10..]);
    }

    #[test]
    fn the_writer_thread_writes_a_line_soon_after_it_is_held() {
        let written = Written::default();
        let lines = Arc::new(Lines::new(written.clone()));
        Arc::clone(&lines).spawn_writer().expect("thread");
        for round in 0..3 {
            // Let the writer go idle on the condition variable, then log one line: it must be
            // woken, not found on a later look.
            let waiting = Instant::now();
            while !lock(&lines.held).writer_waiting {
                assert!(
                    waiting.elapsed() < Duration::from_secs(5),
                    "the writer never waits"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            lines.hold(format!("line {round}\n").as_bytes());
            let held = Instant::now();
            while !written.text().ends_with(&format!("line {round}\n")) {
                assert!(
                    held.elapsed() < Duration::from_secs(5),
                    "{:?}",
                    written.text()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(written.text(), "line 0\nline 1\nline 2\n");
    }
}
