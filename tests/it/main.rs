//! The one integration-test binary: a module per feature, shared helpers in `helpers`.

mod dovecot;
mod fake_imap;
mod helpers;
mod oauth_server;

mod admin_http;
mod admin_pages;
mod admin_ui;
mod admin_ui_aliases;
mod aliases;
mod api_basics;
mod browser;
mod case_values;
mod cli;
mod connection_test;
mod crash;
mod credentials;
mod hardening;
mod limits;
mod mime_corpus;
mod oauth;
mod oauth_admin;
mod oauth_apps;
mod oauth_cli;
mod oauth_connection_test;
mod oauth_leaks;
mod oauth_sign_in;
mod originals;
mod processing;
mod providers;
mod reference;
mod routing;
mod secrets;
mod server_faults;
mod token_client;
mod vault;
