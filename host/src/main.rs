use clap::Parser;
use pullthrough::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let response = pullthrough::run::run(&args)?;
            println!("{}", serde_json::to_string(&response)?);
        }
    }
    Ok(())
}
