//! Mailroom: IMAP mailboxes in, routed cases out. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod config;
pub mod dns;
pub mod domain;
pub mod imap;
pub mod ingest;
pub mod metrics;
pub mod oauth;
pub mod store;
pub mod telemetry;
pub mod vault;
pub mod web;
