//! kresctl: the command-line client of kres-manager (the program is `kres_manager::client::run`).

use std::process::ExitCode;

fn main() -> ExitCode {
    kres_manager::client::run(std::env::args_os())
}
