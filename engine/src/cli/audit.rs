//! `switchboard audit list [--since T] [--json]`: the audit trail of
//! administrative changes, read from the data directory's audit log
//! (whether an engine runs or not), oldest first.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::GlobalArgs;
use crate::message::time::format_time;
use crate::store::audit::{self, AuditRecord};

/// The audit trail: who changed what, when.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every administrative change (association and AE directory edits,
    /// imports, resends, restores, production saves, portal logins),
    /// oldest first, with what each changed.
    List(ListArgs),
}

/// `audit list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only changes since a duration ago (`10m`, `2h`) or a UTC time
    /// (`2026-11-28`, `2026-11-28T03:00:00Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Print a JSON array of records, with the states before and after.
    #[arg(long)]
    pub json: bool,
}

/// Prints the audit trail.
///
/// # Errors
/// A bad `--since`, or a log that exists but cannot be read.
pub fn run(global: &GlobalArgs, args: &AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::List(list) = &args.command;
    let since = match &list.since {
        Some(text) => super::messages::parse_since(text)?,
        None => 0,
    };
    let (records, unreadable) = audit::read(&global.data_dir, since).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the audit log {}: {e}",
            audit::path(&global.data_dir).display()
        )
    })?;
    if unreadable > 0 {
        eprintln!(
            "{unreadable} line(s) of {} could not be read and are not shown.",
            audit::path(&global.data_dir).display()
        );
    }
    let text = if list.json {
        let mut text = serde_json::to_string_pretty(&records)?;
        text.push('\n');
        text
    } else {
        render(&records)
    };
    super::output::write_stdout(&text)
}

/// One line per record, then an indented line per field it changed.
pub fn render(records: &[AuditRecord]) -> String {
    if records.is_empty() {
        return "No administrative change recorded.\n".to_string();
    }
    let mut out = String::new();
    for r in records {
        let namespace = r
            .namespace
            .as_ref()
            .map_or(String::new(), |ns| format!(" [{ns}]"));
        out.push_str(&format!(
            "{}  {}{namespace}: {} {}\n",
            format_time(r.at),
            r.who,
            r.action,
            r.target
        ));
        for line in changes(r.before.as_ref(), r.after.as_ref()) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// What differs between two states: per top-level field of an object,
/// `field: before -> after`; a text, by its lines.
fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let short = |v: Option<&Value>| {
        let text = v.map_or("(none)".to_string(), Value::to_string);
        if text.chars().count() > 100 {
            format!("{}…", text.chars().take(100).collect::<String>())
        } else {
            text
        }
    };
    match (before, after) {
        (Some(Value::String(b)), Some(Value::String(a))) => {
            vec![format!(
                "text: {} lines -> {} lines",
                b.lines().count(),
                a.lines().count()
            )]
        }
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| b.get(*k) != a.get(*k))
                .map(|k| format!("{k}: {} -> {}", short(b.get(k)), short(a.get(k))))
                .collect()
        }
        (None, None) => Vec::new(),
        (Some(b), None) => vec![format!("was {}", short(Some(b)))],
        (None, Some(a)) => vec![format!("now {}", short(Some(a)))],
        (Some(b), Some(a)) => vec![format!("{} -> {}", short(Some(b)), short(Some(a)))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_shows_who_what_and_each_field_it_changed() {
        let record = AuditRecord {
            at: 0,
            who: "alice (uid 1000) on the admin socket".into(),
            namespace: Some("radiology".parse().unwrap()),
            action: "association edit".into(),
            target: "ECHOSCU -> ROUTER".into(),
            before: Some(json!({"name": "", "certificates": ["cn:A"], "max_pdu_length": 16384})),
            after: Some(json!({"name": "Echo", "certificates": ["cn:A"]})),
        };
        let text = render(&[record]);
        assert_eq!(
            text,
            "1970-01-01 00:00:00.000  alice (uid 1000) on the admin socket [radiology]: \
             association edit ECHOSCU -> ROUTER\n    \
             max_pdu_length: 16384 -> (none)\n    \
             name: \"\" -> \"Echo\"\n"
        );
        assert_eq!(
            changes(Some(&json!("a\nb")), Some(&json!("a\nb\nc"))),
            ["text: 2 lines -> 3 lines"]
        );
        assert_eq!(changes(None, Some(&json!(["m1"]))), ["now [\"m1\"]"]);
        assert_eq!(render(&[]), "No administrative change recorded.\n");
    }
}
