//! Switchboard server: configuration, command line, HTTP API and first-run setup.

pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod files;
pub mod http;
pub mod log_writer;
pub mod oauth;
