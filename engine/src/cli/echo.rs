//! `switchboard echo HOST:PORT --calling AET --called AET [--count N]`: a
//! C-ECHO client that prints the PDU trace of the reference sample with the
//! round-trip time of every echo.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use super::GlobalArgs;
use super::output::say;
use crate::association::model::{AeTitle, VERIFICATION};
use crate::association::negotiation::context_result_words;
use crate::dimse::probe::verification_transfer_syntaxes;
use crate::dimse::scu::{ScuOptions, Trace, connect};
use crate::dimse::uids::uid_name_or_uid;

/// Send C-ECHO to a DICOM peer and print the exchange.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// The peer, as HOST:PORT.
    pub address: String,
    /// Our AE title (the calling AE title).
    #[arg(long)]
    pub calling: AeTitle,
    /// The peer's AE title (the called AE title).
    #[arg(long)]
    pub called: AeTitle,
    /// How many C-ECHO requests to send on the association.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// Seconds to wait to connect and for each answer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

/// Runs the command.
///
/// # Errors
/// When the association is rejected or aborted, Verification is not
/// accepted, or any echo does not return 0000H.
pub async fn run(global: &GlobalArgs, args: &EchoArgs) -> anyhow::Result<()> {
    let stored =
        super::association_source::stored_association(global, &args.calling, &args.called).await?;
    let transfer_syntaxes = verification_transfer_syntaxes(stored.as_ref());
    let ts_names: Vec<String> = transfer_syntaxes
        .iter()
        .map(|t| uid_name_or_uid(t))
        .collect();
    say!(
        "Requesting association {} -> {} at {} (Verification SOP Class: {}{})",
        args.calling,
        args.called,
        args.address,
        ts_names.join(", "),
        if stored.is_some() {
            ", from the stored association"
        } else {
            ""
        }
    );

    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let trace: Trace = Arc::new(move |line: &str| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_string());
    });
    let flush = |suffix: Option<String>| {
        let mut pending = lines.lock().unwrap_or_else(PoisonError::into_inner);
        let count = pending.len();
        for (i, line) in pending.drain(..).enumerate() {
            match (&suffix, i + 1 == count) {
                (Some(s), true) => say!("{line}  ({s})"),
                _ => say!("{line}"),
            }
        }
    };

    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut options = ScuOptions::new(args.calling.as_str(), args.called.as_str());
    options.tls = args.tls.client()?;
    options.connect_timeout = timeout;
    options.response_timeout = timeout;
    let ts_refs: Vec<&str> = transfer_syntaxes.iter().map(String::as_str).collect();
    let options = options
        .with_context(VERIFICATION, &ts_refs)
        .with_trace(trace);

    let started = Instant::now();
    let connected = connect(&args.address, &options).await;
    let setup = started.elapsed();
    let mut association = match connected {
        Ok(association) => association,
        Err(error) => {
            flush(None);
            return Err(error).with_context(|| format!("echo to {} failed", args.address));
        }
    };
    flush(Some(format!("{}", Millis(setup))));
    let context = &association.contexts()[0];
    match &context.transfer_syntax {
        Some(ts) => say!(
            "   Verification SOP Class accepted with {}",
            uid_name_or_uid(ts)
        ),
        None => {
            let words = context_result_words(&context.result);
            say!("   Verification SOP Class rejected: {words}");
            association.abort().await;
            flush(None);
            bail!(
                "{} did not accept the Verification SOP Class: {words}",
                args.called
            );
        }
    }

    let mut round_trips = Vec::with_capacity(args.count as usize);
    let mut failures = 0u32;
    for _ in 0..args.count {
        let sent = Instant::now();
        match association.echo().await {
            Ok(status) => {
                let rtt = sent.elapsed();
                round_trips.push(rtt);
                flush(Some(format!("{}", Millis(rtt))));
                if !status.is_success() {
                    failures += 1;
                }
            }
            Err(error) => {
                flush(None);
                return Err(error).context("the echo failed");
            }
        }
    }
    let released = association.release().await;
    flush(None);
    released.context("the release failed")?;

    let min = round_trips.iter().min().copied().unwrap_or_default();
    let max = round_trips.iter().max().copied().unwrap_or_default();
    let total: Duration = round_trips.iter().sum();
    let avg = total / round_trips.len().max(1) as u32;
    if failures > 0 {
        bail!(
            "{failures} of {} echoes did not return 0000H [Success]",
            args.count
        );
    }
    say!(
        "Echo succeeded: {} of {}; round trip min/avg/max {}/{}/{}; association set-up {}",
        round_trips.len(),
        args.count,
        Millis(min),
        Millis(avg),
        Millis(max),
        Millis(setup)
    );
    Ok(())
}

/// A duration in milliseconds with two decimals.
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ms", self.0.as_secs_f64() * 1000.0)
    }
}
