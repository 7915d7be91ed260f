//! A test fixture: a plugin built against `switchboard:router@2.0.0`, a major
//! version this engine does not know. The engine must refuse it clearly.
//! Its `wit/router.wit` is the SDK's file with the version changed.

#[cfg(target_arch = "wasm32")]
#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "router" });

    use exports::switchboard::router::plugin::Guest;
    use switchboard::router::types::{Decision, MessageHeader};

    struct Future;

    impl Guest for Future {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
        fn route(_header: MessageHeader) -> Result<Decision, String> {
            Ok(Decision::Drop("from the future".to_string()))
        }
    }

    export!(Future);
}
