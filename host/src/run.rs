//! `pullthrough run`: offline evaluation of one request, compatible with `kwctl run`.

#[derive(Debug, clap::Args)]
pub struct RunArgs {}
