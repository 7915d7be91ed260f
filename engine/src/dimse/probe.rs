//! Probing a peer with a stored association: one C-ECHO with the PDU trace
//! (what the portal's Echo button shows), and the test of every stored
//! presentation context (`association test`, the portal's Test button).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::association::model::{AssociationContext, IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION};
use crate::association::negotiation::context_result_words;
use crate::dimse::scu::{
    MAX_PRESENTATION_CONTEXTS, ProposedContext, ScuError, ScuOptions, Trace, connect,
};
use crate::dimse::uids::uid_name_or_uid;

/// The transfer syntaxes to propose for Verification: the stored
/// association's, else Implicit VR Little Endian.
pub fn verification_transfer_syntaxes(stored: Option<&AssociationContext>) -> Vec<String> {
    stored
        .and_then(|ctx| ctx.context_for(VERIFICATION))
        .map(|pc| {
            pc.transfer_syntaxes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|ts| !ts.is_empty())
        .unwrap_or_else(|| vec![IMPLICIT_VR_LITTLE_ENDIAN.to_string()])
}

/// What one echo showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReport {
    /// The PDU trace, one line per PDU and per step.
    pub lines: Vec<String>,
    /// The transfer syntax Verification was accepted with, or why it was
    /// not (or why the association failed).
    pub result: Result<String, String>,
    /// The C-ECHO-RSP status, when one came.
    pub status: Option<u16>,
    /// Association set-up and the echo's round trip.
    pub setup: Duration,
    pub round_trip: Option<Duration>,
}

/// One C-ECHO to `address` as the stored association's pair proposes it
/// (its Verification transfer syntaxes, else Implicit VR Little Endian).
pub async fn echo(
    address: &str,
    calling: &str,
    called: &str,
    stored: Option<&AssociationContext>,
    timeout: Duration,
) -> EchoReport {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let trace: Trace = Arc::new(move |line: &str| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_string());
    });
    let transfer_syntaxes = verification_transfer_syntaxes(stored);
    let ts: Vec<&str> = transfer_syntaxes.iter().map(String::as_str).collect();
    let mut options = ScuOptions::new(calling, called);
    options.connect_timeout = timeout;
    options.response_timeout = timeout;
    let options = options.with_context(VERIFICATION, &ts).with_trace(trace);
    let started = Instant::now();
    let (mut setup, mut round_trip, mut status) = (Duration::ZERO, None, None);
    let result = match connect(address, &options).await {
        Err(e) => Err(e.to_string()),
        Ok(mut association) => {
            setup = started.elapsed();
            let accepted = association.contexts()[0].transfer_syntax.clone();
            match accepted {
                None => {
                    let words = context_result_words(&association.contexts()[0].result);
                    association.abort().await;
                    Err(format!("Verification SOP Class rejected: {words}"))
                }
                Some(ts) => {
                    let sent = Instant::now();
                    match association.echo().await {
                        Ok(answer) => {
                            round_trip = Some(sent.elapsed());
                            status = Some(answer.code());
                            match association.release().await {
                                Ok(()) => Ok(uid_name_or_uid(&ts)),
                                Err(e) => Err(format!("the release failed: {e}")),
                            }
                        }
                        Err(e) => Err(format!("the echo failed: {e}")),
                    }
                }
            }
        }
    };
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    EchoReport {
        lines,
        result,
        status,
        setup,
        round_trip,
    }
}

/// What happened to one proposed presentation context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextOutcome {
    pub abstract_syntax: String,
    pub proposed_transfer_syntaxes: Vec<String>,
    /// The accepted transfer syntax, or the reason in words.
    pub result: Result<String, String>,
}

/// The outcome of a whole test.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestReport {
    pub contexts: Vec<ContextOutcome>,
    pub associations: usize,
}

impl TestReport {
    pub fn accepted(&self) -> usize {
        self.contexts.iter().filter(|c| c.result.is_ok()).count()
    }

    pub fn rejected(&self) -> usize {
        self.contexts.len() - self.accepted()
    }
}

/// Proposes every presentation context of `stored` to the peer at
/// `address`, at most 128 per association, releasing each association.
/// A rejected association marks its contexts rejected with its reason.
///
/// # Errors
/// Connection and protocol failures other than a rejection.
pub async fn test_association(
    address: &str,
    stored: &AssociationContext,
    timeout: Duration,
    tls: Option<&super::tls::ClientTls>,
    mut on_line: impl FnMut(&str),
) -> Result<TestReport, ScuError> {
    let mut report = TestReport::default();
    for chunk in stored
        .presentation_contexts
        .chunks(MAX_PRESENTATION_CONTEXTS)
    {
        let mut options = ScuOptions::new(
            stored.calling_ae_title.as_str(),
            stored.called_ae_title.as_str(),
        );
        options.connect_timeout = timeout;
        options.response_timeout = timeout;
        options.tls = tls.cloned();
        if let Some(max) = stored.max_pdu_length.filter(|m| *m != 0) {
            options.max_pdu_length = max;
        }
        options.presentation_contexts = chunk
            .iter()
            .map(|pc| ProposedContext {
                abstract_syntax: pc.abstract_syntax.to_string(),
                transfer_syntaxes: pc
                    .transfer_syntaxes
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            })
            .collect();
        report.associations += 1;
        on_line(&format!(
            ">> A-ASSOCIATE-RQ PDU ({} presentation context{})",
            chunk.len(),
            if chunk.len() == 1 { "" } else { "s" }
        ));
        match connect(address, &options).await {
            Ok(association) => {
                on_line("<< A-ASSOCIATE-AC PDU");
                for negotiated in association.contexts() {
                    report.contexts.push(ContextOutcome {
                        abstract_syntax: negotiated.abstract_syntax.clone(),
                        proposed_transfer_syntaxes: negotiated.proposed_transfer_syntaxes.clone(),
                        result: negotiated
                            .transfer_syntax
                            .clone()
                            .ok_or_else(|| context_result_words(&negotiated.result).to_string()),
                    });
                }
                on_line(">> A-RELEASE-RQ PDU");
                association.release().await?;
                on_line("<< A-RELEASE-RP PDU");
            }
            Err(ScuError::Rejected(rejection)) => {
                on_line(&format!("<< A-ASSOCIATE-RJ PDU ({rejection})"));
                for pc in chunk {
                    report.contexts.push(ContextOutcome {
                        abstract_syntax: pc.abstract_syntax.to_string(),
                        proposed_transfer_syntaxes: pc
                            .transfer_syntaxes
                            .iter()
                            .map(ToString::to_string)
                            .collect(),
                        result: Err(format!("association {rejection}")),
                    });
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(report)
}
