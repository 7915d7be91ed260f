//! `switchboard events [--level warn|error] [--item NAME] [--limit N]`: the
//! running engine's recent log events (its in-memory event log), newest
//! first, asked through its admin socket.

use clap::Args;

use super::GlobalArgs;
use crate::admin::{self, Event, EventFilter, Request, Response};
use crate::message::time::format_time;

/// Arguments of `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this level and more severe ones.
    #[arg(long, value_parser = ["info", "warn", "error"])]
    pub level: Option<String>,
    /// Only events about this item.
    #[arg(long)]
    pub item: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Asks the running engine for its recent events and prints them.
///
/// # Errors
/// No engine runs on the data directory, or it does not answer.
pub async fn run(global: &GlobalArgs, args: &EventsArgs) -> anyhow::Result<()> {
    let filter = EventFilter {
        level: args.level.clone(),
        item: args.item.clone(),
        limit: Some(args.limit),
    };
    let response = admin::with_store_or_engine(
        &global.data_dir,
        &global.namespace,
        Request::Events { filter },
    )
    .await?
    .map_err(super::output::reply_error)?;
    let Response::Events { events } = response else {
        anyhow::bail!("the engine answered the events request with something else");
    };
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&events)?)
    } else {
        render_text(&events)
    };
    super::output::write_stdout(&text)
}

/// One line per event: time, level, where, text, fields.
fn render_text(events: &[Event]) -> String {
    if events.is_empty() {
        return "No event.\n".to_string();
    }
    let mut out = String::new();
    for e in events {
        let place = match (e.namespace.as_str(), e.item.as_str()) {
            ("", "") => String::new(),
            ("", item) => format!(" {item}"),
            (ns, item) => format!(" {ns}/{item}"),
        };
        out.push_str(&format!(
            "{} {:<5}{place}: {}{}{}\n",
            format_time(e.at),
            e.level,
            e.message,
            if e.fields.is_empty() { "" } else { "  " },
            e.fields
        ));
    }
    out
}
