//! The `switchboard` binary: parse, set up logging, run, report.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn main() -> std::process::ExitCode {
    quiet_library_backtraces();
    private_files();
    one_malloc_arena_per_core();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> std::process::ExitCode {
    let cli = switchboard::cli::Cli::parse_args();
    // The log on stderr as RUST_LOG says (default: info); the event log of
    // the admin API and the portal keeps INFO and above whatever it says.
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(switchboard::events::layer().with_filter(tracing::level_filters::LevelFilter::INFO))
        .init();
    match switchboard::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// With `RUST_BACKTRACE=1` in the environment, the DICOM libraries capture
/// a backtrace for every error they create, including the ones they use to
/// find the end of a command set: tens of microseconds per message.
/// `RUST_LIB_BACKTRACE=0` turns that off and keeps backtraces of panics.
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any other thread
        // exists, so nothing reads the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RUST_LIB_BACKTRACE", "0");
        }
    }
}

/// glibc gives threads that allocate at the same time arenas of their own,
/// up to eight per core, and memory freed in an arena is reused by that
/// arena only: the engine's many short-lived blocking threads spread their
/// allocations over all of them, and its RSS stays at the sum of each
/// arena's peak. One arena per core keeps a store-and-forward run at about
/// two thirds of that RSS (`scripts/soak`), with no measurable cost in
/// `forward-bench`. `MALLOC_ARENA_MAX` in the environment still decides.
fn one_malloc_arena_per_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes allocator settings; called first
        // thing in `main`, before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Everything the engine creates (bodies, spool files, sled's files,
/// caches) holds patient data: readable by this user only, whatever the
/// umask it was started with. A `file` operation sets its own files' mode
/// explicitly (`file_mode`).
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; called
    // first thing in `main`, before any thread creates files.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o077);
    }
}
