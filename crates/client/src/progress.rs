//! Long work says where it is: a spinner per step on a terminal (indicatif), plain log lines
//! otherwise (a service's journal, CI).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Where progress goes.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    terminal: bool,
}

impl Progress {
    /// Spinners when standard error is a terminal, log lines otherwise.
    pub fn detect() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Log lines only.
    pub fn plain() -> Self {
        Self { terminal: false }
    }

    /// Starts a step named `what`.
    pub fn step(&self, what: &str) -> Step {
        let bar = if self.terminal {
            let bar = ProgressBar::new_spinner().with_message(format!("{what}…"));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            tracing::info!("{what}…");
            None
        };
        Step {
            what: what.to_string(),
            bar,
            started: Instant::now(),
        }
    }
}

/// A step in progress; [`Step::done`] reports its result.
pub struct Step {
    what: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    pub fn done(self, result: String) {
        let seconds = self.started.elapsed().as_secs_f64();
        match self.bar {
            Some(bar) => {
                bar.finish_with_message(format!("{}: {result} ({seconds:.1} s)", self.what))
            }
            None => tracing::info!("{}: {result} ({seconds:.1} s)", self.what),
        }
    }
}
