//! Business processes: routing items between services and operations. The
//! `pass-through` kind hands a message to all its targets; the `wasm` kind
//! lets a routing plugin choose targets, edit the forwarded copy or drop it.
//! Each kind has its own folder and is registered by one line below.
//!
//! Processes never import the runtime: they get an [`ItemContext`].
//!
//! [`ItemContext`]: crate::component::ItemContext

pub(crate) mod pass_through;
pub mod wasm_router;

use crate::component::kind::item_kinds;

item_kinds! {
    /// Every process kind, by its `type` in the production file.
    pub enum ProcessConfig {
        "pass-through" => PassThrough(pass_through::PassThroughConfig),
        "wasm" => Wasm(wasm_router::WasmRouterConfig),
    }
}
