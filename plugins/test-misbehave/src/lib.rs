//! A test fixture: a plugin that misbehaves when a message asks it to.
//!
//! The Patient ID (0010,0020) of each message picks the behaviour:
//! `loop` spins forever, `trap` hits an unreachable instruction, `panic`
//! panics with a message, `oom` allocates without bound, `unknown-target`
//! forwards to a target the process does not have, `error` returns an error,
//! `log` logs a line and forwards, `nested` drops with a reason naming the
//! Code Value of the first Procedure Code Sequence item and the sequence's
//! item count (to test reads inside sequences). Anything else forwards to
//! every target.
//! `init` fails when the config is `"fail"`.
//!
//! Never use it in a production: it exists so the engine's tests can prove
//! that one bad message fails alone.

use switchboard_sdk::{Decision, Error, Level, Message, PathStep, Plugin, Result, log, tags};

/// The plugin.
#[derive(Debug)]
pub struct Misbehave;

impl Plugin for Misbehave {
    fn init(config: &str) -> Result<Self> {
        if config.trim() == "\"fail\"" {
            return Err(Error::new("init failed on purpose"));
        }
        Ok(Misbehave)
    }

    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        match message.string(tags::PATIENT_ID).as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("trap") => trap(),
            Some("panic") => panic!("asked to panic"),
            Some("oom") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("unknown-target") => Ok(Decision::forward(["NO-SUCH-ITEM"])),
            Some("error") => Err(Error::new("refused on purpose")),
            Some("nested") => {
                let step = PathStep {
                    sequence: tags::PROCEDURE_CODE_SEQUENCE,
                    item: 0,
                };
                let code = message
                    .attribute_in(&[step], tags::CODE_VALUE)
                    .and_then(|v| v.first().map(str::to_string))
                    .unwrap_or_else(|| "none".to_string());
                let items = message
                    .attribute(tags::PROCEDURE_CODE_SEQUENCE)
                    .map_or(0, |v| v.items);
                Ok(Decision::drop(format!("code {code} of {items} items")))
            }
            Some("log") => {
                log(Level::Info, "hello from the plugin");
                Ok(Decision::forward(message.header().targets.iter().cloned()))
            }
            _ => Ok(Decision::forward(message.header().targets.iter().cloned())),
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

switchboard_sdk::export_plugin!(Misbehave);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{self, MockMessage};

    #[test]
    fn well_behaved_messages_go_to_every_target() {
        let plugin = testing::init::<Misbehave>("{}").unwrap();
        let msg = MockMessage::new()
            .targets(["A", "B"])
            .with(tags::PATIENT_ID, "LO", ["42"]);
        assert_eq!(msg.route(&plugin).unwrap(), Decision::forward(["A", "B"]));
        let bad = msg.clone().with(tags::PATIENT_ID, "LO", ["unknown-target"]);
        assert!(
            bad.route(&plugin)
                .unwrap_err()
                .message()
                .contains("unknown target")
        );
        assert!(testing::init::<Misbehave>("\"fail\"").is_err());
        let item = MockMessage::new().with(tags::CODE_VALUE, "SH", ["T-D0050"]);
        let nested = msg
            .with(tags::PATIENT_ID, "LO", ["nested"])
            .with_sequence(tags::PROCEDURE_CODE_SEQUENCE, vec![item]);
        assert_eq!(
            nested.route(&plugin).unwrap(),
            Decision::drop("code T-D0050 of 1 items")
        );
    }
}
