//! Benchmarks: Switchboard side by side with peers.
