//! `cargo run -q --release -p component-build`: builds the component (or finds it up to date,
//! or takes `AIOS_LLM_CORE_WASM`) and prints the path of the `.wasm` file; build output goes
//! to stderr.

use std::process::ExitCode;

fn main() -> ExitCode {
    let me = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("error: cannot find this program's path: {e}");
            return ExitCode::FAILURE;
        }
    };
    match component_build::component(&me) {
        Ok(built) => {
            println!("{}", built.wasm.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
