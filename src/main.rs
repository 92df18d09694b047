//! The `veilink` binary: parses arguments and hands them to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the server's writer and
/// committer threads spent a quarter of their time in glibc's `malloc`,
/// `free` and the kernel's zeroing of freshly mapped pages (sled copies its
/// tree nodes on every change; the linkage index grows its postings), and
/// mimalloc keeps and reuses freed pages per thread (`BENCHMARKS.md` §5).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = veilink::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match veilink::cli::run(cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
