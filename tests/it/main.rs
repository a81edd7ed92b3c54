//! leadpipe's integration tests: one binary, each test in its own work
//! directory, running the real `leadpipe` executable the way a user would.

mod servers;
mod support;

mod bad_input;
mod budget;
mod canary;
mod fuzz_regressions;
mod graph8;
mod layering;
mod leadrocks;
mod local_plane;
mod reachstream;
mod readings;
mod resume;
mod rocketreach;
mod rocketreach_bulk;
mod sandbox;
mod startup;
mod torture;
mod warehouse;
mod waterfall;
