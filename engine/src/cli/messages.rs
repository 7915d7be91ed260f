//! `switchboard messages list|show|resend`: the message trace. Runs through
//! [`admin::with_store_or_engine`], so it works the same whether or not an
//! engine holds the data directory. Like `status`, it covers every
//! namespace unless `--namespace` narrows it.

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::admin::{
    self, MessageView, QueryView, Request, Response, RetrieveView, SubOperationView,
};
use crate::component::HumanDuration;
use crate::ids::NamespaceId;
use crate::message::time::{format_time, parse_utc};
use crate::message::{DeliveryStatus, MessageFilter, MessageId, now_ms};

/// `messages …`
#[derive(Debug, Args)]
pub struct MessagesArgs {
    #[command(subcommand)]
    pub command: MessagesCommand,
}

/// The message-trace commands.
#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// List messages, newest first, with their status per target.
    List(ListArgs),
    /// Show one message: header, deliveries, and its path through the items
    /// with times and outcomes.
    Show {
        /// The message id (first column of `messages list`).
        id: MessageId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue messages again: the given ones (to every target), or with
    /// `--status failed` every failed delivery.
    Resend(ResendArgs),
}

/// `messages list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only messages of this production (as source or target).
    #[arg(long)]
    pub production: Option<String>,
    /// Only messages with a delivery in this status: queued, in-flight,
    /// delivered or failed.
    #[arg(long)]
    pub status: Option<DeliveryStatus>,
    /// Only messages received since: a time (`2026-11-28T03:00:00Z`,
    /// `2026-11-28`) or a duration ago (`10m`, `2h`).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `messages resend`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true))]
pub struct ResendArgs {
    /// Message ids.
    #[arg(group = "which")]
    pub ids: Vec<MessageId>,
    /// `failed`: every message with a failed delivery.
    #[arg(long, group = "which", value_parser = ["failed"])]
    pub status: Option<String>,
}

/// Runs a `messages` command.
///
/// # Errors
/// The store or engine cannot be reached, or the command failed.
pub async fn run(global: &GlobalArgs, args: MessagesArgs) -> anyhow::Result<()> {
    let every_namespace = !global.namespace_given;
    let (request, json) = match args.command {
        MessagesCommand::List(a) => {
            let since = a.since.as_deref().map(parse_since).transpose()?;
            (
                Request::MessagesList {
                    filter: MessageFilter {
                        production: a.production,
                        status: a.status,
                        since,
                        limit: Some(a.limit),
                        ..MessageFilter::default()
                    },
                    every_namespace,
                },
                a.json,
            )
        }
        MessagesCommand::Show { id, json } => (
            Request::MessagesShow {
                id,
                every_namespace,
            },
            json,
        ),
        MessagesCommand::Resend(a) => (
            Request::MessagesResend {
                ids: a.ids,
                all_failed: a.status.is_some(),
                every_namespace,
                matching: None,
            },
            false,
        ),
    };
    let response = admin::with_store_or_engine(&global.data_dir, &global.namespace, request)
        .await?
        .map_err(super::output::reply_error)?;
    let text = if json {
        render_json(&response)?
    } else {
        let scope = (!every_namespace).then_some(&global.namespace);
        render_text(&response, scope)
    };
    super::output::write_stdout(&text)
}

/// The `--json` form.
///
/// # Errors
/// Only if serialisation fails, which plain data does not.
pub fn render_json(response: &Response) -> anyhow::Result<String> {
    let mut text = match response {
        Response::Messages { messages, .. } => serde_json::to_string_pretty(messages)?,
        Response::Message { message } => serde_json::to_string_pretty(message)?,
        other => serde_json::to_string_pretty(other)?,
    };
    text.push('\n');
    Ok(text)
}

/// The human form; `scope` is the one namespace asked about, if any.
pub fn render_text(response: &Response, scope: Option<&NamespaceId>) -> String {
    match response {
        Response::Messages {
            messages,
            namespaces,
            ..
        } => render_list(messages, scope, namespaces),
        Response::Message { message } => render_show(message),
        Response::Resent { resent, .. } => {
            let mut out = String::new();
            for (id, targets) in resent {
                if targets.is_empty() {
                    out.push_str(&format!("Message {id}: nothing to send again.\n"));
                } else {
                    let t: Vec<String> = targets.iter().map(|t| t.item.clone()).collect();
                    out.push_str(&format!(
                        "Message {id}: queued again for {}.\n",
                        t.join(", ")
                    ));
                }
            }
            if resent.is_empty() {
                out.push_str("No message to send again.\n");
            }
            out
        }
        _ => String::new(),
    }
}

fn render_list(
    messages: &[MessageView],
    scope: Option<&NamespaceId>,
    namespaces: &[NamespaceId],
) -> String {
    if messages.is_empty() {
        let Some(namespace) = scope else {
            return "No messages.\n".to_string();
        };
        let others: Vec<String> = namespaces
            .iter()
            .filter(|n| *n != namespace)
            .map(ToString::to_string)
            .collect();
        return if others.is_empty() {
            format!("No messages in namespace {namespace}.\n")
        } else {
            format!(
                "No messages in namespace {namespace}. Namespaces with messages: {} (use --namespace).\n",
                others.join(", ")
            )
        };
    }
    let mut header = vec!["ID"];
    if scope.is_none() {
        header.push("NAMESPACE");
    }
    header.extend([
        "RECEIVED (UTC)",
        "SOURCE",
        "STATUS",
        "SOP CLASS",
        "SOP INSTANCE UID",
        "TARGETS",
    ]);
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let sop = crate::dictionary::sop_class_name(&m.header.sop_class_uid)
                .unwrap_or(&m.header.sop_class_uid)
                .to_string();
            let targets = m
                .deliveries
                .iter()
                .map(|d| format!("{}:{}", d.target.item, d.status))
                .collect::<Vec<_>>()
                .join(" ");
            let mut row = vec![m.id.to_string()];
            if scope.is_none() {
                row.push(m.namespace.to_string());
            }
            // A query's keys are patient data: the list names its level only.
            let instance = match (&m.query, &m.retrieve) {
                (Some(q), _) => format!("(query: {} level, {} matches)", q.level, q.matches),
                (_, Some(r)) => format!(
                    "({}: {} completed, {} failed)",
                    r.what(),
                    r.completed,
                    r.failed
                ),
                _ => m.header.sop_instance_uid.clone(),
            };
            row.extend([
                format_time(m.header.received_at),
                format!("{}/{}", m.header.source.production, m.header.source.item),
                m.status.to_string(),
                sop,
                instance,
                targets,
            ]);
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn render_show(m: &MessageView) -> String {
    let h = &m.header;
    let name = |uid: &str| {
        crate::dictionary::sop_class_name(uid)
            .or_else(|| crate::dictionary::transfer_syntax_name(uid))
            .map(|n| format!("{uid} ({n})"))
            .unwrap_or_else(|| uid.to_string())
    };
    let mut out = format!(
        "Message {} in namespace {}: {}\n\
         Received:          {} UTC by {}/{}\n\
         From:              {} ({} → {})\n\
         SOP class:         {}\n",
        m.id,
        m.namespace,
        m.status,
        format_time(h.received_at),
        h.source.production,
        h.source.item,
        h.origin,
        h.calling_ae_title,
        h.called_ae_title,
        name(&h.sop_class_uid),
    );
    match (&m.query, &m.retrieve) {
        (Some(q), _) => out.push_str(&render_query(q, &name(&h.transfer_syntax))),
        (_, Some(r)) => out.push_str(&render_retrieve(r, &m.sub_operations)),
        _ => out.push_str(&format!(
            "SOP instance UID:  {}\n\
             Transfer syntax:   {}\n\
             Size:              {} bytes{}\n",
            h.sop_instance_uid,
            name(&h.transfer_syntax),
            h.size,
            if m.body_purged {
                " (body purged by retention)"
            } else {
                ""
            },
        )),
    }
    let bodiless = m.query.is_some() || m.retrieve.is_some();
    out.push_str(if bodiless {
        "Upstreams:\n"
    } else {
        "Deliveries:\n"
    });
    if m.deliveries.is_empty() {
        out.push_str("  none (the service has no target)\n");
    }
    for d in &m.deliveries {
        out.push_str(&format!(
            "  {}/{}: {}, {} attempt{}, updated {} UTC",
            d.target.production,
            d.target.item,
            d.status,
            d.attempts,
            if d.attempts == 1 { "" } else { "s" },
            format_time(d.updated_at)
        ));
        if let Some(e) = &d.last_error {
            out.push_str(&format!("\n    last error: {e}"));
        }
        if bodiless && let Some(r) = &d.reason {
            out.push_str(&format!("\n    {r}"));
        }
        out.push('\n');
    }
    out.push_str("Trace:\n");
    for e in &m.events {
        out.push_str(&format!(
            "  {}  {}/{}: {}\n",
            format_time(e.at),
            e.item.production,
            e.item.item,
            e.event
        ));
    }
    out
}

/// What a move asked, how it ended, and where each instance stands.
fn render_retrieve(r: &RetrieveView, instances: &[SubOperationView]) -> String {
    let status = crate::dimse::Status(r.status);
    let mut out = format!(
        "Retrieve:          {}, {} level: {} completed, {} failed, {} warning, final status {status}{}\n\
         Took:              {} ms\n\
         Keys:\n",
        r.what(),
        r.level,
        r.completed,
        r.failed,
        r.warning,
        r.error_comment
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        r.duration_ms,
    );
    for k in &r.keys {
        if k.value.is_empty() {
            out.push_str(&format!("  {} (returned)\n", k.keyword));
        } else {
            out.push_str(&format!("  {} = {}\n", k.keyword, k.value));
        }
    }
    out.push_str(&format!(
        "Instances:         {} (messages resend ID sends a failed one again)\n",
        r.sub_operations.len()
    ));
    for i in instances {
        out.push_str(&format!(
            "  {}  {}  {}{}\n",
            i.id,
            i.sop_instance_uid,
            i.status,
            i.reason
                .as_ref()
                .filter(|_| i.status == DeliveryStatus::Failed)
                .map(|why| format!(": {why}"))
                .unwrap_or_default()
        ));
    }
    out
}

/// What a query asked and how it ended.
fn render_query(q: &QueryView, transfer_syntax: &str) -> String {
    let status = crate::dimse::Status(q.status);
    let mut out = format!(
        "Transfer syntax:   {transfer_syntax}\n\
         Query:             {} level, {} matches, final status {status}{}\n\
         Took:              {} ms{}\n\
         Keys:\n",
        q.level,
        q.matches,
        q.error_comment
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        q.duration_ms,
        q.first_match_ms
            .map(|f| format!(", first match after {f} ms"))
            .unwrap_or_default(),
    );
    if q.keys.is_empty() {
        out.push_str("  none readable\n");
    }
    for k in &q.keys {
        if k.value.is_empty() {
            out.push_str(&format!("  {} (returned)\n", k.keyword));
        } else {
            out.push_str(&format!("  {} = {}\n", k.keyword, k.value));
        }
    }
    out
}

/// `--since`: a duration ago (`10m`) or a UTC time (`2026-11-28`,
/// `2026-11-28T03:00`, `2026-11-28T03:00:00Z`).
pub(super) fn parse_since(text: &str) -> anyhow::Result<u64> {
    if let Ok(d) = text.parse::<HumanDuration>() {
        let ago = u64::try_from(d.get().as_millis()).unwrap_or(u64::MAX);
        return Ok(now_ms().saturating_sub(ago));
    }
    parse_utc(text).ok_or_else(|| {
        anyhow::anyhow!(
            "--since {text:?}: give a duration ago (\"10m\", \"2h\") or a UTC time (\"2026-11-28T03:00:00Z\")"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_ago_or_a_utc_time() {
        assert_eq!(
            parse_since("2026-11-28T03:04:05Z").unwrap(),
            parse_utc("2026-11-28T03:04:05Z").unwrap()
        );
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("10m").unwrap() <= now_ms());
    }
}
