//! The process exit codes: the contract between leadpipe and the scripts
//! (cron jobs, CI) that run it.
//!
//! 0–4 say how a run ended; 5–8 say it could not start, each for its own
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
    /// 5: the state store cannot be opened (unreadable, not a database, written by a newer leadpipe).
    StateUnavailable = 5,
    /// 6: an output (sink, rejects or duplicates file) cannot be opened; nothing paid was attempted.
    OutputUnavailable = 6,
    /// 7: the sandbox cannot start (its address is taken, or its config is unusable at start).
    SandboxFailed = 7,
    /// 8: the async runtime cannot start (no threads or file descriptors left).
    RuntimeFailed = 8,
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
  5  cannot start: the state store cannot be opened
  6  cannot start: an output file cannot be opened (nothing paid was attempted)
  7  cannot start: the sandbox cannot start
  8  cannot start: the runtime cannot start (threads, file descriptors)";
