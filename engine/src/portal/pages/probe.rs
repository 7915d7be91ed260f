//! Echo and Test from an association's page: `POST /associations/probe`
//! runs what `switchboard echo` and `switchboard association test` run
//! against a HOST:PORT and shows the outcome per presentation context and
//! the PDU trace.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::super::guard::{Form, Portal};
use super::associations::{Posted, association};

use crate::association::AssociationContext;
use crate::dimse::probe::{echo, test_association};
use crate::dimse::uids::uid_name_or_uid;

/// One presentation context's outcome as the probe page shows it.
struct OutcomeRow {
    sop_class: String,
    accepted: bool,
    /// The accepted transfer syntax, or why it was rejected.
    result: String,
    proposed: String,
}

#[derive(Template)]
#[template(path = "portal/probe.html")]
struct Probe {
    title: String,
    back: String,
    /// The outcome in one sentence, and whether it is a success.
    summary: String,
    ok: bool,
    rows: Vec<OutcomeRow>,
    lines: Vec<String>,
}

/// How long a probe waits to connect and for each answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `POST /associations/probe`: `action` = `echo` (one C-ECHO with the
/// association's Verification transfer syntaxes) or `test` (every stored
/// presentation context proposed) against `address` (HOST:PORT); shows
/// the outcome per context and the PDU trace.
pub(in super::super) async fn probe(
    State(portal): State<Portal>,
    Extension(form): Extension<Form>,
) -> Response {
    let p = match Posted::of(&form) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let address = form.get("address").unwrap_or_default().trim().to_string();
    if address
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return super::refusal(
            StatusCode::BAD_REQUEST,
            "Not an address",
            &format!("{address:?} is not HOST:PORT, e.g. 127.0.0.1:104"),
        );
    }
    let stored: AssociationContext = match association(
        &portal,
        &p.ns,
        p.calling_aet.as_str(),
        p.called_aet.as_str(),
    )
    .await
    {
        Ok(a) => a.into(),
        Err(refusal) => return refusal,
    };
    let back = p.link("/associations/show", &[]);
    let pair = format!("{} → {}", p.calling_aet, p.called_aet);
    let page = match form.get("action") {
        Some("echo") => {
            let report = echo(
                &address,
                p.calling_aet.as_str(),
                p.called_aet.as_str(),
                Some(&stored),
                PROBE_TIMEOUT,
            )
            .await;
            let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
            let (summary, ok) = match (&report.result, report.status) {
                (Ok(ts), Some(0)) => (
                    format!(
                        "Echo succeeded with {ts}: status 0000, round trip {}, association set-up {}.",
                        report.round_trip.map(ms).unwrap_or_default(),
                        ms(report.setup)
                    ),
                    true,
                ),
                (Ok(_), status) => (
                    format!(
                        "The echo returned status {:04X}.",
                        status.unwrap_or_default()
                    ),
                    false,
                ),
                (Err(e), _) => (format!("Echo failed: {e}"), false),
            };
            Probe {
                title: format!("Echo {pair} at {address}"),
                back,
                summary,
                ok,
                rows: Vec::new(),
                lines: report.lines,
            }
        }
        Some("test") => {
            let mut lines = Vec::new();
            match test_association(&address, &stored, PROBE_TIMEOUT, None, |l| {
                lines.push(l.to_string())
            })
            .await
            {
                Ok(report) => {
                    let rows = report
                        .contexts
                        .iter()
                        .map(|c| OutcomeRow {
                            sop_class: uid_name_or_uid(&c.abstract_syntax),
                            accepted: c.result.is_ok(),
                            result: match &c.result {
                                Ok(ts) => uid_name_or_uid(ts),
                                Err(reason) => reason.clone(),
                            },
                            proposed: c
                                .proposed_transfer_syntaxes
                                .iter()
                                .map(|t| uid_name_or_uid(t))
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                        .collect();
                    Probe {
                        title: format!("Test {pair} at {address}"),
                        back,
                        summary: format!(
                            "{} of {} presentation contexts accepted, {} rejected.",
                            report.accepted(),
                            report.contexts.len(),
                            report.rejected()
                        ),
                        ok: report.rejected() == 0,
                        rows,
                        lines,
                    }
                }
                Err(e) => Probe {
                    title: format!("Test {pair} at {address}"),
                    back,
                    summary: format!("The test failed: {e}"),
                    ok: false,
                    rows: Vec::new(),
                    lines,
                },
            }
        }
        _ => {
            return super::refusal(
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "Use the Echo or Test button of an association's page.",
            );
        }
    };
    super::render(&page)
}
