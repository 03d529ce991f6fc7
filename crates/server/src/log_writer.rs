//! Where the log goes: standard error, in batches. A log line is copied into a shared
//! buffer, and a thread of the writer's own writes the buffer out `FLUSH_AFTER` after
//! the first line of a batch came in (at once when the buffer passes `BATCH_MAX`).
//! Written line by line, every request's log line cost the request a system call and
//! the lock of standard error, which the runtime's threads then fought over: some
//! 10 µs of the server's CPU per request, 4 % of the list's throughput on PostgreSQL
//! (BENCHMARKS.md, "The eleventh machine"). A line reaches standard error at most
//! `FLUSH_AFTER` late; `flush` writes what is gathered, and the CLI calls it before
//! the process ends (and before a panic's message).
//!
//! Not `tracing-appender`'s non-blocking writer: its thread sleeps on a channel, is
//! woken by a line that comes while it sleeps, and writes each line with a call of its
//! own, so the system call per line stays, only on another thread, with wake-ups added.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::time::Duration;

/// How long a batch gathers lines after its first one.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// A batch this large is written at once by the thread that filled it, so a burst of
/// lines cannot grow the buffer without bound.
const BATCH_MAX: usize = 1 << 20;

struct Batches {
    /// Lines not written yet, in the order they came.
    pending: Mutex<Vec<u8>>,
    /// Wakes the writer's thread when a batch begins.
    begun: Condvar,
    /// Held while a batch is taken and written, so batches reach their output in the
    /// order they were taken (taken under `pending`, after this).
    output: Mutex<()>,
}

/// What adding a line did to the batch.
#[derive(Debug, PartialEq, Eq)]
enum Added {
    /// The line began a batch: the writer's thread is to be woken.
    Began,
    /// The batch is `BATCH_MAX` or more: to be written now.
    Filled,
    /// Neither.
    Joined,
}

impl Batches {
    fn new() -> Batches {
        Batches {
            pending: Mutex::new(Vec::new()),
            begun: Condvar::new(),
            output: Mutex::new(()),
        }
    }

    fn add(&self, line: &[u8]) -> Added {
        let mut pending = lock(&self.pending);
        let began = pending.is_empty();
        pending.extend_from_slice(line);
        if pending.len() >= BATCH_MAX {
            Added::Filled
        } else if began {
            Added::Began
        } else {
            Added::Joined
        }
    }

    /// Writes every line gathered so far to `out`.
    fn write_to(&self, out: &mut impl Write) {
        let _output = lock(&self.output);
        let batch = std::mem::take(&mut *lock(&self.pending));
        if !batch.is_empty() {
            // Nowhere to report a failed write of the log; the server goes on.
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }

    /// Waits for a batch to begin.
    fn wait_for_lines(&self) {
        let mut pending = lock(&self.pending);
        while pending.is_empty() {
            pending = self
                .begun
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// The process's batches, and the thread writing them.
fn batches() -> &'static Batches {
    static BATCHES: OnceLock<Batches> = OnceLock::new();
    static WRITER: Once = Once::new();
    let gathered = BATCHES.get_or_init(Batches::new);
    WRITER.call_once(|| {
        // A thread that cannot start leaves the writing to `flush` and `BATCH_MAX`;
        // logging must not stop the server.
        let _ = std::thread::Builder::new()
            .name("switchboard-log".to_string())
            .spawn(move || loop {
                gathered.wait_for_lines();
                std::thread::sleep(FLUSH_AFTER);
                gathered.write_to(&mut std::io::stderr().lock());
            });
    });
    gathered
}

/// A poisoned lock only means a thread panicked while holding it; the bytes are fine.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes every line gathered so far to standard error.
pub fn flush() {
    batches().write_to(&mut std::io::stderr().lock());
}

/// The writer `tracing_subscriber` formats each line into (one `write` per line).
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchedStderr;

impl Write for BatchedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let batches = batches();
        match batches.add(line) {
            Added::Filled => flush(),
            Added::Began => batches.begun.notify_one(),
            Added::Joined => {}
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lines_stay_whole_and_in_order_until_written() {
        let batches = Arc::new(Batches::new());
        assert_eq!(batches.add(b"first\n"), Added::Began);
        assert_eq!(batches.add(b"second\n"), Added::Joined);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let batches = batches.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        batches.add(format!("thread {t} line {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let mut out = Vec::new();
        batches.write_to(&mut out);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("first\nsecond\n"), "{text}");
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().expect("a whole line"))
                .collect();
            assert_eq!(numbers, (0..500).collect::<Vec<_>>(), "thread {t}");
        }
        // Written once: the next batch begins empty.
        let mut again = Vec::new();
        batches.write_to(&mut again);
        assert!(again.is_empty());
        assert_eq!(batches.add(b"next\n"), Added::Began);
    }

    #[test]
    fn a_full_batch_is_written_at_once() {
        let batches = Batches::new();
        let line = vec![b'x'; 1000];
        let added: Vec<Added> = (0..BATCH_MAX / 1000 + 1)
            .map(|_| batches.add(&line))
            .collect();
        assert_eq!(added.first(), Some(&Added::Began));
        assert_eq!(added.last(), Some(&Added::Filled));
        assert_eq!(
            added.iter().filter(|a| **a == Added::Filled).count(),
            1,
            "full only once it passed BATCH_MAX"
        );
    }
}
