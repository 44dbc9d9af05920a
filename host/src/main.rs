//! The `pullthrough` binary: parses arguments, sets up telemetry, runs the command, and maps a
//! fatal error to an exit code; everything else is in the library.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use pullthrough::commands::{Cli, Command};

// Requests allocate and free many small JSON nodes on the async workers and the blocking pool;
// glibc's arenas lock against each other across those threads (futex waits in the profile).
// jemalloc's per-thread caches avoid that. The library and its tests keep the system allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read once at its start (`_RJEM_MALLOC_CONF` in the environment overrides
// them). Two arenas, not four per core: each arena keeps the pages its threads freed, and the
// blocking pool adds threads under load. Single 15 s runs peaked 3.4 MiB lower with it; 60 s runs
// varied more than that, and throughput was unchanged (BENCHMARKS.md, "Peak RSS").
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"narenas:2\0"[0];

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only `serve` answers admissions, so only it exports traces and batches its log lines; the
    // traces are kept to the end of main, when dropping them exports the last spans.
    let serve = matches!(cli.command, Command::Serve(_));
    let traces = match pullthrough::telemetry::init(cli.log.log_format, cli.log_filter(), serve) {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("error: {}", pullthrough::report::one_line(&error));
            return ExitCode::from(2);
        }
    };
    if let Command::CompileModule(args) = &cli.command {
        return compile_module(args);
    }
    let code = match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The log's last lines (batched under `serve`) come before the error that ends it.
            pullthrough::telemetry::flush();
            eprint!("{}", pullthrough::report::fatal(error.as_ref()));
            ExitCode::FAILURE
        }
    };
    // What was logged before the last spans' export, then whatever that export logged.
    pullthrough::telemetry::flush();
    drop(traces);
    pullthrough::telemetry::flush();
    code
}

/// `serve`'s child: its exit status tells a module that does not compile (which the server
/// reports itself, so nothing is printed) from a failure of the child's own.
fn compile_module(args: &pullthrough::commands::CompileModuleArgs) -> ExitCode {
    let result = pullthrough::wasm::run_compile_module(
        args.max_concurrency,
        args.policy_memory_mib << 20,
        !args.no_pooling,
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ pullthrough::wasm::CompileModuleError::DoesNotCompile(_)) => {
            ExitCode::from(error.exit_code())
        }
        Err(error) => {
            eprint!("{}", pullthrough::report::fatal(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::CompileModule(_) => unreachable!("compile-module is run by compile_module"),
        Command::Run(args) => {
            let response = pullthrough::commands::run::run(&args)?;
            println!("{}", serde_json::to_string(&response)?);
            Ok(())
        }
        Command::Serve(args) => {
            let config = args.config()?;
            let runtime = pullthrough::commands::serve::runtime(&config)
                .context("could not start the async runtime")?;
            Ok(runtime.block_on(pullthrough::commands::serve::run(config))?)
        }
        Command::Cert(args) => {
            let written = pullthrough::commands::cert::run(&args)?;
            for file in &written.files {
                eprintln!("wrote {}", file.display());
            }
            eprintln!("names: {}", written.names.join(", "));
            println!("{}", written.ca_bundle);
            Ok(())
        }
        Command::Register(args) => {
            let out = block_on(pullthrough::commands::register::register(&args))??;
            println!("{out}");
            Ok(())
        }
        Command::Unregister(args) => {
            let out = block_on(pullthrough::commands::register::unregister(&args))??;
            println!("{out}");
            Ok(())
        }
        Command::Scan(args) => match pullthrough::commands::scan::run(&args)? {
            0 => Ok(()),
            // The report is written and flushed: nothing is left to drop but memory.
            status => std::process::exit(status.into()),
        },
        Command::Manifests(args) => {
            let output = pullthrough::commands::manifests::output(&args)?;
            for note in &output.notes {
                eprintln!("note: {note}");
            }
            print!("{}", output.yaml);
            Ok(())
        }
    }
}

/// One-shot commands talk to the API server once: a current-thread runtime is plenty.
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    pullthrough::tls::install_default_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(runtime.block_on(future))
}
