//! The text `leadpipe plan` prints (`--json` prints the [`Plan`] itself).

use super::Plan;

impl Plan {
    /// The text `leadpipe plan` prints.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan for pipeline {:?} ({}): {} input rows; no paid call made",
            self.pipeline,
            self.file.display(),
            self.rows_in
        );
        for st in &self.stages {
            let _ = write!(s, "stage {}: {} rows in", st.stage, st.rows_in);
            if st.rows_dropped > 0 {
                let _ = write!(s, ", {} dropped", st.rows_dropped);
            }
            if let Some(v) = &st.vendor {
                let _ = write!(
                    s,
                    ", {} ask {v}: {} distinct requests, {} cached, {} to buy",
                    st.rows_asking, st.requests, st.cached, st.paid_requests
                );
                if st.rows_uncertain > 0 {
                    let _ = write!(s, " (+ up to {} for emails found upstream)", st.rows_uncertain);
                }
                let _ = write!(
                    s,
                    "; credits: worst case {}, expected {}",
                    fmt(st.credits_worst),
                    fmt(st.credits_expected)
                );
            }
            s.push('\n');
        }
        for v in &self.vendors {
            let _ = writeln!(
                s,
                "vendor {}: {} paid requests; credits: worst case {}, expected {} ({}); time {:.1} s at {}",
                v.vendor,
                v.paid_requests,
                fmt(v.credits_worst),
                fmt(v.credits_expected),
                v.expected_basis,
                v.time_s,
                v.rate
            );
            for l in &v.limits {
                let at = |r: Option<u64>| r.map_or("never reached".to_string(), |r| format!("reached at row {r}"));
                let _ = writeln!(
                    s,
                    "  {}: {} left; worst case {}, expected {}",
                    l.limit,
                    fmt(l.left),
                    at(l.worst_row),
                    at(l.expected_row)
                );
            }
        }
        let _ = writeln!(s, "time: about {:.0} s ({})", self.time_s, self.time_basis);
        if self.all_cached {
            s.push_str("every answer is cached: the run costs 0 credits\n");
        }
        if let (Some(calls), Some(credits)) = (self.sandbox_paid_calls, self.sandbox_credits_charged) {
            let _ = writeln!(
                s,
                "sandbox: {calls} paid calls and {credits} credits charged while planning"
            );
        }
        s
    }
}

fn fmt(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}
