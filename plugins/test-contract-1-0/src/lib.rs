//! A test fixture: a plugin built against `switchboard:router@1.0.0`, the
//! first contract. Its `wit/router.wit` is that version, kept as it was:
//! every 1.x engine must load it and route with it as before. It forwards
//! every message to every target, naming its Modality in InstitutionName.

#[cfg(target_arch = "wasm32")]
#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "router" });

    use exports::switchboard::router::plugin::Guest;
    use switchboard::router::host;
    use switchboard::router::types::{
        AttributeEdit, Decision, Forward, MessageHeader, SetAttribute,
    };

    struct First;

    impl Guest for First {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
        fn route(header: MessageHeader) -> Result<Decision, String> {
            let modality = host::attribute(0x0008_0060)
                .and_then(|v| v.values.into_iter().next())
                .unwrap_or_default();
            Ok(Decision::Forward(Forward {
                targets: header.targets,
                edits: vec![AttributeEdit::Set(SetAttribute {
                    tag: 0x0008_0080,
                    vr: "LO".to_string(),
                    values: vec![format!("CONTRACT 1.0 {modality}")],
                })],
            }))
        }
    }

    export!(First);
}
