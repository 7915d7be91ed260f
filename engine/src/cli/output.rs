//! What every command shares to answer: stdout that tolerates a closed pipe,
//! and admin errors rebuilt as error chains.

use crate::admin::ErrorReply;

/// Writes everything to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// `println!` for commands that print as they go (`echo`, `association
/// test`): a closed stdout (`| head`) ends the printing quietly instead of
/// panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        // A closed pipe is no error there; any other write error is
        // dropped as println! would panic on it: the command goes on.
        $crate::cli::output::write_stdout(&format!("{}\n", format_args!($($arg)*))).ok();
    }};
}
pub(crate) use say;

/// An error reported by `execute`, locally or by the engine, rebuilt as a
/// chain so that `main` prints it the same way on both paths.
#[derive(Debug)]
struct ReportedError {
    message: String,
    source: Option<Box<ReportedError>>,
}

impl std::fmt::Display for ReportedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReportedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An admin error as the CLI reports it: the chain of messages, with the
/// request fields they name (`` `overwrite` ``) shown as this CLI's flags.
pub(crate) fn reply_error(reply: ErrorReply) -> anyhow::Error {
    let mut chain: Option<Box<ReportedError>> = None;
    for message in reply.causes.into_iter().rev() {
        chain = Some(Box::new(ReportedError {
            message: with_flags(&message),
            source: chain,
        }));
    }
    anyhow::Error::new(ReportedError {
        message: with_flags(&reply.message),
        source: chain,
    })
}

/// The request fields admin errors may name, and the flags that set them.
const FLAGS: &[(&str, &str)] = &[
    ("`overwrite`", "--overwrite"),
    ("`transfer_syntaxes`", "--transfer-syntax"),
    ("`transfer_syntax`", "--transfer-syntax"),
    ("`name`", "--name"),
    ("`description`", "--description"),
    ("`max_pdu_length`", "--max-pdu-length"),
    ("`clear_max_pdu_length`", "--clear-max-pdu-length"),
    ("`certificates`", "--certificate"),
    ("`host`", "--host"),
    ("`port`", "--port"),
    ("`move_callers`", "--move-caller"),
    ("`tls`", "--tls"),
];

fn with_flags(message: &str) -> String {
    FLAGS.iter().fold(message.to_string(), |m, (field, flag)| {
        m.replace(field, flag)
    })
}
