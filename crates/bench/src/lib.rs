//! Benchmark tooling for Switchboard: realistic data (`data`), a bulk seeder (`seed`),
//! a checker of the server's answers on seeded data (`check`) and the raw-SQL driver
//! (`raw`). The binary `switchboard-bench` exposes them; `scripts/bench.sh` runs the
//! whole benchmark.

pub mod check;
pub mod data;
pub mod raw;
pub mod seed;
