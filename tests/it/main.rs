//! The single integration-test binary.

mod sandbox;
