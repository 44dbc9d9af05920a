use clap::Parser;
use pullthrough::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(_args) => anyhow::bail!("not implemented yet"),
    }
}
