//! Benchmark tooling for Switchboard: realistic data (`data`), a bulk seeder (`seed`),
//! a checker of the server's answers on seeded data (`check`) and the raw-SQL driver
//! (`raw`), and the thinnest HTTP server around the raw driver's statement (`floor`).
//! The binaries `switchboard-bench` and `switchboard-floor` expose them;
//! `scripts/bench.sh` runs the whole benchmark.

pub mod check;
pub mod data;
pub mod floor;
pub mod raw;
pub mod seed;
