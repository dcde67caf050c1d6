//! `lwm2m`: the operator CLI of the LwM2M cluster (list, get, read, watch, and
//! device management: write, execute, create, delete, discover, write-attributes).
//!
//! All logic lives in `lwm2m_gateway::cli` so that it is unit-tested with the library; this file
//! only parses the command line and runs it on a tokio runtime.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use lwm2m_gateway::cli::{args::Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run::main(cli))
}
