//! Guest glue between the generated WIT bindings and [`crate::Plugin`].
//! Only compiled for `wasm32`; used by [`crate::export_plugin!`].

pub mod query;

use std::any::Any;
use std::cell::RefCell;

use crate::{
    AttributeSource, AttributeValue, Decision, Edit, Level, Message, MessageHeader, PathStep,
    Plugin, Tag,
};

/// The bindings `wit-bindgen` generates from `wit/router.wit`, world
/// `query-router`: every plugin built with this SDK exports the query hook;
/// one exported with [`crate::export_plugin!`] lets queries pass unchanged.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unsafe_code
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "query-router",
        pub_export_macro: true,
        export_macro_name: "__export_query_router_world",
        default_bindings_module: "switchboard_sdk::__glue::bindings",
    });
}

use bindings::switchboard::router::{host, types};

pub use bindings::exports::switchboard::router::plugin::Guest;
/// The header as generated from WIT.
pub type WitHeader = types::MessageHeader;
/// The decision as generated from WIT.
pub type WitDecision = types::Decision;

thread_local! {
    static PLUGIN: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

pub(crate) fn log(level: Level, text: &str) {
    let level = match level {
        Level::Trace => types::Level::Trace,
        Level::Debug => types::Level::Debug,
        Level::Info => types::Level::Info,
        Level::Warn => types::Level::Warn,
        Level::Error => types::Level::Error,
    };
    host::log(level, text);
}

/// The `init` export: builds the plugin and keeps it for `route`.
pub fn init<P: Plugin>(config: &str) -> Result<(), String> {
    // A panic aborts the instance; tell the engine why first (the default
    // hook would write to stderr, which plugins are not granted).
    std::panic::set_hook(Box::new(|info| {
        log(
            Level::Error,
            &format!("plugin panicked: {info}").replace('\n', " "),
        );
    }));
    let plugin = P::init(config).map_err(|e| e.to_string())?;
    PLUGIN.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
    Ok(())
}

/// The `route` export.
pub fn route<P: Plugin>(header: WitHeader) -> Result<WitDecision, String> {
    let header = MessageHeader {
        message_id: header.message_id,
        source: header.source,
        calling_ae_title: header.calling_ae_title,
        called_ae_title: header.called_ae_title,
        sop_class_uid: header.sop_class_uid,
        sop_instance_uid: header.sop_instance_uid,
        transfer_syntax_uid: header.transfer_syntax_uid,
        targets: header.targets,
    };
    let decision = with_plugin::<P, _>(|p| p.route(&Message::new(&header, &HostSource)))?;
    Ok(match decision {
        Decision::Drop(reason) => types::Decision::Drop(reason),
        Decision::Forward { targets, edits } => types::Decision::Forward(types::Forward {
            targets,
            edits: edits
                .into_iter()
                .map(|e| match e {
                    Edit::Set { tag, vr, values } => {
                        types::AttributeEdit::Set(types::SetAttribute {
                            tag: tag.0,
                            vr,
                            values,
                        })
                    }
                    Edit::Remove(tag) => types::AttributeEdit::Remove(tag.0),
                })
                .collect(),
        }),
    })
}

/// Runs `f` on the plugin `init` built.
pub(crate) fn with_plugin<P: 'static, T>(
    f: impl FnOnce(&P) -> crate::Result<T>,
) -> Result<T, String> {
    PLUGIN.with(|slot| {
        let slot = slot.borrow();
        let plugin = slot
            .as_ref()
            .and_then(|p| p.downcast_ref::<P>())
            .ok_or_else(|| "called before init".to_string())?;
        f(plugin).map_err(|e| e.to_string())
    })
}

/// Reads attributes through the engine's `host` imports.
pub(crate) struct HostSource;

impl AttributeSource for HostSource {
    fn attribute(&self, path: &[PathStep], tag: Tag) -> Option<AttributeValue> {
        let value = if path.is_empty() {
            host::attribute(tag.0)
        } else {
            let steps: Vec<types::PathStep> = path
                .iter()
                .map(|s| types::PathStep {
                    sequence: s.sequence.0,
                    item: s.item,
                })
                .collect();
            host::attribute_in(&steps, tag.0)
        }?;
        Some(AttributeValue {
            vr: value.vr,
            values: value.values,
            items: value.items,
        })
    }
}
