//! The process exit codes: the contract between leadpipe and the scripts
//! (cron jobs, CI) that run it.
//!
//! 0–5 say how a run ended; 6–9 say it could not start, each for its own
//! reason, so a script can tell "fix the machine" from "look at the rows".

/// What a finished `leadpipe` invocation tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every row done.
    Done = 0,
    /// 1: the run finished, but some rows failed (see the report and rejects).
    RowsFailed = 1,
    /// 2: invalid pipeline file, input or usage; nothing paid was attempted.
    Invalid = 2,
    /// 3: interrupted (Ctrl-C, SIGTERM); run again to resume.
    Interrupted = 3,
    /// 4: a vendor refused to go on (bad key, out of credits); resumable once fixed.
    VendorStopped = 4,
    /// 5: a `[budget]` cap was reached: the run stopped before the request
    /// that would exceed it; raise the budget (or wait for the next day or
    /// month) and run again to resume.
    BudgetReached = 5,
    /// 6: the state store cannot be opened (unreadable, not a database, written by a newer leadpipe).
    StateUnavailable = 6,
    /// 7: an output (sink, rejects or duplicates file) cannot be opened; nothing paid was attempted.
    OutputUnavailable = 7,
    /// 8: the sandbox cannot start (its address is taken, or its config is unusable at start).
    SandboxFailed = 8,
    /// 9: the async runtime cannot start (no threads or file descriptors left).
    RuntimeFailed = 9,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The same table as text, for `--help` and the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every row done
  1  done, some rows failed (see the report and the rejects file)
  2  invalid pipeline, input or usage (nothing paid was attempted)
  3  interrupted; run the same command again to resume
  4  a vendor refused to go on (bad key, out of credits); resumable once fixed
  5  budget reached (a [budget] cap); raise it or wait, then run again to resume
  6  cannot start: the state store cannot be opened
  7  cannot start: an output file cannot be opened (nothing paid was attempted)
  8  cannot start: the sandbox cannot start
  9  cannot start: the runtime cannot start (threads, file descriptors)";
