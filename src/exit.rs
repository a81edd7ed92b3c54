//! The process exit codes: the contract between leadpipe and the scripts
//! (cron jobs, CI) that run it.

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
  4  a vendor refused to go on (bad key, out of credits); resumable once fixed";
