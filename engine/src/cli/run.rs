//! `switchboard run`: hosts every production until SIGINT or SIGTERM;
//! SIGHUP reloads the productions folder.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::component::HumanDuration;
use crate::runtime::{Control, ReloadOptions, RunOptions, run_with_control};
use crate::store::retention::RetentionPolicy;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The productions folder: `<namespace>/<name>.toml` inside.
    #[arg(long, env = "SWITCHBOARD_PRODUCTIONS", default_value = "productions")]
    pub productions: PathBuf,
    /// How long open associations and deliveries may take to finish on
    /// shutdown, e.g. "10s".
    #[arg(long, default_value = "10s")]
    pub grace_period: HumanDuration,
    /// Remove the body of a delivered message after this long (headers and
    /// trace are kept), e.g. "7d"; "0s" keeps bodies forever.
    #[arg(long, default_value = "7d")]
    pub retention_age: HumanDuration,
    /// Also remove bodies of delivered messages, oldest first, while all
    /// bodies together take more than this many MiB.
    #[arg(long)]
    pub retention_size_mib: Option<u64>,
    /// Refuse new messages (C-STORE answered A700) while the data
    /// directory's file system has less than this many MiB free, so that
    /// the store never finds the disk full; "0" turns the check off.
    #[arg(long, default_value_t = 256)]
    pub min_free_space_mib: u64,
    /// Apply changes of production files and plugins while running (the
    /// default); `--no-watch` runs what was read at start only (no watch,
    /// no rescan).
    #[arg(long, overrides_with = "no_watch")]
    pub watch: bool,
    /// Do not watch the productions folder.
    #[arg(long, overrides_with = "watch")]
    pub no_watch: bool,
    /// Also hash every production and plugin file this often and reload on
    /// a difference: a safety net for changes the watcher misses (network
    /// filesystems); "0s" turns it off.
    #[arg(long, default_value = "10s")]
    pub rescan_interval: HumanDuration,
    /// Serve the management portal, on 127.0.0.1:11180 or the address
    /// given (loopback only without HTTPS); the login URL is logged and
    /// written to `<data-dir>/portal.token`.
    #[arg(long, num_args = 0..=1, default_missing_value = crate::portal::DEFAULT_ADDRESS, value_name = "ADDR")]
    pub portal: Option<std::net::SocketAddr>,
    /// Serve the portal over HTTPS with this certificate (chain, PEM); it
    /// then may listen on any address, and answers to the names the
    /// certificate carries.
    #[arg(long, requires_all = ["portal", "portal_private_key"], value_name = "FILE")]
    pub portal_certificate: Option<PathBuf>,
    /// The private key (PEM) of `--portal-certificate`.
    #[arg(long, requires = "portal_certificate", value_name = "FILE")]
    pub portal_private_key: Option<PathBuf>,
}

/// Runs the engine until a signal.
///
/// # Errors
/// The engine could not start (store locked, productions folder missing).
pub async fn run(data_dir: PathBuf, args: &RunArgs) -> anyhow::Result<()> {
    crate::plugin::cache::set_shared_dir(data_dir.join("plugin-cache"));
    let options = RunOptions {
        data_dir: data_dir.clone(),
        productions_dir: args.productions.clone(),
        grace_period: args.grace_period.get(),
        retention: RetentionPolicy {
            max_age: (!args.retention_age.get().is_zero()).then(|| args.retention_age.get()),
            max_total_bytes: args
                .retention_size_mib
                .map(|m| m.saturating_mul(1024 * 1024)),
        },
        min_free_space: args.min_free_space_mib.saturating_mul(1024 * 1024),
        reload: ReloadOptions {
            watch: !args.no_watch,
            rescan: (!args.no_watch && !args.rescan_interval.get().is_zero())
                .then(|| args.rescan_interval.get()),
            ..ReloadOptions::default()
        },
        portal: args.portal,
        portal_tls: args
            .portal_certificate
            .clone()
            .zip(args.portal_private_key.clone())
            .map(|(certificate, private_key)| crate::portal::PortalTls {
                certificate,
                private_key,
            }),
    };
    // SIGHUP reads the productions folder again and applies the changes.
    let (control, requests) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            if control.send(Control::Reload).await.is_err() {
                break;
            }
        }
    });
    run_with_control(options, signal(), requests)
        .await
        .with_context(|| {
            format!(
                "cannot run the engine on data directory {}",
                data_dir.display()
            )
        })
}

/// Completes on SIGINT or SIGTERM.
async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    // A second signal during the grace period stops at once.
    tokio::spawn(async {
        tokio::signal::ctrl_c().await.ok();
        tokio::time::sleep(Duration::from_millis(10)).await;
        std::process::exit(130);
    });
}
