use super::*;
use crate::association::{AeTitle, PresentationContext, Uid, VERIFICATION};
use crate::dictionary;

fn ae(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn uid(s: &str) -> Uid {
    Uid::new(s).unwrap()
}

fn ns() -> NamespaceId {
    NamespaceId::default()
}

const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const IMPLICIT: &str = "1.2.840.10008.1.2";

fn import(overwrite: bool, contexts: Vec<PresentationContext>) -> Request {
    Request::Import {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        presentation_contexts: contexts,
        overwrite,
        certificates: Vec::new(),
    }
}

fn verification(tss: &[&str]) -> PresentationContext {
    PresentationContext::new(uid(VERIFICATION), tss.iter().map(|t| uid(t)).collect()).unwrap()
}

fn listed(store: &Store) -> Vec<AssociationView> {
    match execute(store, &ns(), Request::List).unwrap() {
        Response::Associations { associations } => associations,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn import_refuses_existing_pair_unless_overwrite_and_keeps_the_name() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    execute(
        &store,
        &ns(),
        import(false, vec![verification(&[IMPLICIT])]),
    )
    .unwrap();
    execute(
        &store,
        &ns(),
        Request::Edit {
            calling_aet: ae("ENS-SCU"),
            called_aet: ae("MWL-SCP"),
            name: Some("worklist".into()),
            description: None,
            max_pdu_length: None,
            clear_max_pdu_length: false,
            certificates: None,
        },
    )
    .unwrap();
    let before = listed(&store);
    let err = execute(
        &store,
        &ns(),
        import(false, vec![verification(&[EXPLICIT])]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(err.http_status(), 409);
    assert_eq!(listed(&store), before);
    let Response::Imported {
        association,
        replaced,
    } = execute(&store, &ns(), import(true, vec![verification(&[EXPLICIT])])).unwrap()
    else {
        panic!()
    };
    assert!(replaced);
    assert_eq!(association.name, "worklist");
    assert_eq!(
        association.presentation_contexts,
        vec![verification(&[EXPLICIT])]
    );
}

#[test]
fn create_uses_every_registry_sop_class_with_the_given_order() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let Response::Created { association, .. } = execute(
        &store,
        &ns(),
        Request::Create {
            calling_aet: ae("JD-SCU"),
            called_aet: ae("ENS-SCP"),
            transfer_syntaxes: vec![uid(EXPLICIT), uid(IMPLICIT)],
            overwrite: false,
        },
    )
    .unwrap() else {
        panic!()
    };
    let registry: Vec<&str> = dictionary::sop_classes().iter().map(|c| c.uid).collect();
    let created: Vec<&str> = association
        .presentation_contexts
        .iter()
        .map(|pc| pc.abstract_syntax.as_str())
        .collect();
    assert_eq!(created, registry);
    assert!(
        association
            .presentation_contexts
            .iter()
            .all(|pc| pc.transfer_syntaxes == [uid(EXPLICIT), uid(IMPLICIT)])
    );
    let err = execute(
        &store,
        &ns(),
        Request::Create {
            calling_aet: ae("X"),
            called_aet: ae("Y"),
            transfer_syntaxes: vec![uid(EXPLICIT), uid(EXPLICIT)],
            overwrite: false,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, CommandError::RepeatedTransferSyntax(_)),
        "{err}"
    );
}

#[test]
fn add_creates_an_empty_association_once_and_context_set_orders_its_syntaxes() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let add = |name: &str| Request::Add {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        name: name.to_string(),
        description: "worklist".into(),
        max_pdu_length: None,
        certificates: vec!["cn:ENS-SCU".parse().unwrap()],
    };
    let err = execute(&store, &ns(), add(&"n".repeat(65))).unwrap_err();
    assert!(err.to_string().contains("64"), "{err}");
    assert!(listed(&store).is_empty(), "a refused add changes nothing");
    let Response::Added { association } = execute(&store, &ns(), add("MWL")).unwrap() else {
        panic!()
    };
    assert_eq!(association.name, "MWL");
    assert!(association.presentation_contexts.is_empty());
    let err = execute(&store, &ns(), add("again")).unwrap_err();
    assert!(
        matches!(err, CommandError::Store(StoreError::AlreadyExists { .. })),
        "{err}"
    );
    assert_eq!(listed(&store)[0].name, "MWL");
    // The binding is stored with the association.
    assert_eq!(listed(&store)[0].certificates[0].to_string(), "cn:ENS-SCU");

    let set = |tss: &[&str]| Request::ContextSet {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        abstract_syntax: uid(VERIFICATION),
        transfer_syntaxes: tss.iter().map(|t| uid(t)).collect(),
    };
    execute(&store, &ns(), set(&[IMPLICIT, EXPLICIT])).unwrap();
    execute(&store, &ns(), set(&[EXPLICIT, IMPLICIT])).unwrap();
    assert_eq!(
        listed(&store)[0].presentation_contexts,
        vec![verification(&[EXPLICIT, IMPLICIT])]
    );
    for bad in [&[][..], &[IMPLICIT, IMPLICIT][..]] {
        assert!(execute(&store, &ns(), set(bad)).is_err());
    }
    assert_eq!(
        listed(&store)[0].presentation_contexts,
        vec![verification(&[EXPLICIT, IMPLICIT])]
    );
}

#[test]
fn context_add_appends_and_remove_refuses_the_last_transfer_syntax() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    execute(
        &store,
        &ns(),
        import(false, vec![verification(&[IMPLICIT])]),
    )
    .unwrap();
    let add = |tss: &[&str]| Request::ContextAdd {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        abstract_syntax: uid(VERIFICATION),
        transfer_syntaxes: tss.iter().map(|t| uid(t)).collect(),
    };
    let Response::ContextAdded {
        added,
        new_context,
        association,
        ..
    } = execute(&store, &ns(), add(&[IMPLICIT, EXPLICIT])).unwrap()
    else {
        panic!()
    };
    assert_eq!((added, new_context), (vec![uid(EXPLICIT)], false));
    assert_eq!(
        association.presentation_contexts,
        vec![verification(&[IMPLICIT, EXPLICIT])]
    );
    let remove = |ts: Option<&str>| Request::ContextRemove {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        abstract_syntax: uid(VERIFICATION),
        transfer_syntax: ts.map(uid),
    };
    execute(&store, &ns(), remove(Some(IMPLICIT))).unwrap();
    let before = listed(&store);
    let err = execute(&store, &ns(), remove(Some(EXPLICIT))).unwrap_err();
    assert!(
        matches!(err, CommandError::LastTransferSyntax { .. }),
        "{err}"
    );
    let err = execute(&store, &ns(), remove(Some("1.2.3"))).unwrap_err();
    assert!(
        matches!(err, CommandError::NoSuchTransferSyntax { .. }),
        "{err}"
    );
    assert_eq!(listed(&store), before);
    execute(&store, &ns(), remove(None)).unwrap();
    assert!(listed(&store)[0].presentation_contexts.is_empty());
    let err = execute(&store, &ns(), remove(None)).unwrap_err();
    assert!(matches!(err, CommandError::NoSuchContext { .. }), "{err}");
}

#[test]
fn edit_checks_values_and_needs_a_change() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    execute(&store, &ns(), import(false, vec![])).unwrap();
    let edit = |name: Option<String>, max: Option<u32>, clear: bool| Request::Edit {
        calling_aet: ae("ENS-SCU"),
        called_aet: ae("MWL-SCP"),
        name,
        description: None,
        max_pdu_length: max,
        clear_max_pdu_length: clear,
        certificates: None,
    };
    assert!(matches!(
        execute(&store, &ns(), edit(None, None, false)),
        Err(CommandError::NothingToEdit)
    ));
    assert!(execute(&store, &ns(), edit(Some("n".repeat(65)), None, false)).is_err());
    assert!(execute(&store, &ns(), edit(None, Some(100), false)).is_err());
    execute(&store, &ns(), edit(None, Some(32768), false)).unwrap();
    assert_eq!(listed(&store)[0].max_pdu_length, Some(32768));
    execute(&store, &ns(), edit(None, None, true)).unwrap();
    assert_eq!(listed(&store)[0].max_pdu_length, None);
}

#[test]
fn lookup_finds_exact_or_wildcard_pairs_without_failing() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let lookup = |calling: &str, wildcards: bool| match execute(
        &store,
        &ns(),
        Request::Lookup {
            calling_aet: ae(calling),
            called_aet: ae("MWL-SCP"),
            wildcards,
        },
    )
    .unwrap()
    {
        Response::LookedUp { association } => association.map(|a| a.calling_aet.to_string()),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(lookup("ENS-SCU", true), None);
    execute(
        &store,
        &ns(),
        Request::Import {
            calling_aet: ae("*"),
            called_aet: ae("MWL-SCP"),
            presentation_contexts: vec![],
            overwrite: false,
            certificates: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(lookup("ENS-SCU", false), None);
    assert_eq!(lookup("ENS-SCU", true).as_deref(), Some("*"));
    execute(&store, &ns(), import(false, vec![])).unwrap();
    assert_eq!(lookup("ENS-SCU", false).as_deref(), Some("ENS-SCU"));
}

#[test]
fn requests_and_replies_round_trip_as_json() {
    let request = Envelope {
        namespace: NamespaceId::new("site-a").unwrap(),
        request: import(true, vec![verification(&[IMPLICIT, EXPLICIT])]),
    };
    let text = serde_json::to_string(&request).unwrap();
    assert!(text.contains("\"command\":\"import\""), "{text}");
    assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), request);
    let bad = r#"{"namespace":"default","request":{"command":"show","calling_aet":"A\\B","called_aet":"X"}}"#;
    let err = serde_json::from_str::<Envelope>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("backslash"), "{err}");
}

#[tokio::test]
async fn server_answers_like_a_local_execute() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let path = socket_path(dir.path());
    let server = AdminServer::bind(&path, store.clone()).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let token = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(server.run(token.clone().cancelled_owned()));

    let remote = call(&path, &ns(), import(false, vec![verification(&[IMPLICIT])]))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        remote,
        Response::Imported {
            replaced: false,
            ..
        }
    ));
    let again = call(&path, &ns(), import(false, vec![]))
        .await
        .unwrap()
        .unwrap_err();
    let local = execute(&store, &ns(), import(false, vec![])).unwrap_err();
    assert_eq!(again, ErrorReply::from_error(&local));
    let remote_list = call(&path, &ns(), Request::List).await.unwrap().unwrap();
    assert_eq!(remote_list, execute(&store, &ns(), Request::List).unwrap());
    // The store is held here, so the CLI helper goes through the socket.
    let via_helper = with_store_or_engine(dir.path(), &ns(), Request::List)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(via_helper, remote_list);

    token.cancel();
    task.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket file is removed on shutdown");
    let err = with_store_or_engine(dir.path(), &ns(), Request::List)
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::EngineUnreachable { .. }), "{err}");
}

#[tokio::test]
async fn server_refuses_bad_http_and_oversized_bodies() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let path = socket_path(dir.path());
    let server = AdminServer::bind(&path, store).unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(server.run(token.clone().cancelled_owned()));
    let exchange = |raw: Vec<u8>| {
        let path = path.clone();
        async move {
            let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
            s.write_all(&raw).await.unwrap();
            let mut out = String::new();
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                s.read_to_string(&mut out),
            )
            .await
            .expect("the server answers and closes")
            .unwrap();
            out
        }
    };
    let big = format!(
        "POST /v1/request HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BODY + 1
    );
    assert!(exchange(big.into_bytes()).await.starts_with("HTTP/1.1 413"));
    let no_body = b"POST /v1/request HTTP/1.1\r\n\r\n".to_vec();
    assert!(exchange(no_body).await.starts_with("HTTP/1.1 400"));
    let wrong_method = b"GET /v1/request HTTP/1.1\r\n\r\n".to_vec();
    assert!(exchange(wrong_method).await.starts_with("HTTP/1.1 405"));
    let garbage = b"POST /v1/request HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    assert!(exchange(garbage).await.starts_with("HTTP/1.1 400"));
    let health = b"GET /v1/health HTTP/1.1\r\n\r\n".to_vec();
    assert!(exchange(health).await.starts_with("HTTP/1.1 200"));
    let missing = b"GET /nope HTTP/1.1\r\n\r\n".to_vec();
    assert!(exchange(missing).await.starts_with("HTTP/1.1 404"));
    token.cancel();
    task.await.unwrap().unwrap();
}

/// Two namespaces with a message each: listings cover both unless one is
/// named, a message is found by id wherever it is, and a resend through
/// every namespace says where each message was.
#[test]
fn message_commands_cover_every_namespace_unless_one_is_named() {
    use crate::message::{ItemAddress, MessageHeader, MessageQueues};
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let out = ItemAddress::new("p", "OUT");
    let mut ids = Vec::new();
    for name in ["demo", "radiology"] {
        let ns = NamespaceId::new(name).unwrap();
        let messages = store.messages(&ns).unwrap();
        let id = messages.next_id().unwrap();
        let header = MessageHeader {
            source: ItemAddress::new("p", "IN"),
            received_at: 1_000,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: format!("1.2.3.{}", id.0),
            transfer_syntax: EXPLICIT.into(),
            calling_ae_title: "SCU".into(),
            called_ae_title: "SCP".into(),
            origin: "test".into(),
            size: 0,
            body: String::new(),
            sub_operation: None,
        };
        messages
            .accept(id, header, std::slice::from_ref(&out))
            .unwrap();
        messages.claim(id, &out).unwrap();
        messages.failed(id, &out, "refused").unwrap();
        ids.push((id, ns));
    }
    let list = |namespace: &str, every_namespace: bool| {
        let request = Request::MessagesList {
            filter: crate::message::MessageFilter::default(),
            every_namespace,
        };
        match execute(&store, &NamespaceId::new(namespace).unwrap(), request).unwrap() {
            Response::Messages { messages, .. } => messages
                .into_iter()
                .map(|m| (m.id, m.namespace))
                .collect::<Vec<_>>(),
            other => panic!("unexpected {other:?}"),
        }
    };
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();
    assert_eq!(list("default", true), newest_first);
    assert_eq!(list("demo", false), ids[..1].to_vec());
    assert!(list("default", false).is_empty());

    let (radiology_id, radiology) = ids[1].clone();
    let show = |every_namespace| {
        execute(
            &store,
            &ns(),
            Request::MessagesShow {
                id: radiology_id,
                every_namespace,
            },
        )
    };
    match show(true).unwrap() {
        Response::Message { message } => assert_eq!(message.namespace, radiology),
        other => panic!("unexpected {other:?}"),
    }
    let err = show(false).unwrap_err();
    assert_eq!(err.http_status(), 404, "{err}");

    let elsewhere = execute(
        &store,
        &ns(),
        Request::MessagesResend {
            ids: Vec::new(),
            all_failed: true,
            every_namespace: true,
            matching: Some(crate::message::MessageFilter {
                production: Some("another".into()),
                ..crate::message::MessageFilter::default()
            }),
        },
    )
    .unwrap();
    assert!(
        matches!(&elsewhere, Response::Resent { resent, .. } if resent.is_empty()),
        "a filter no failed message matches resends nothing: {elsewhere:?}"
    );
    let resent = execute(
        &store,
        &ns(),
        Request::MessagesResend {
            ids: Vec::new(),
            all_failed: true,
            every_namespace: true,
            matching: None,
        },
    )
    .unwrap();
    let Response::Resent {
        resent: rows,
        namespaces,
    } = &resent
    else {
        panic!("unexpected {resent:?}");
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(namespaces, &ids);
    // The answer survives the admin socket's JSON.
    let json = serde_json::to_string(&Reply::Ok(resent.clone())).unwrap();
    assert_eq!(
        Result::from(serde_json::from_str::<Reply>(&json).unwrap()),
        Ok::<_, ErrorReply>(resent)
    );
}

#[test]
fn pages_with_a_scan_limit_miss_nothing_across_namespaces() {
    use crate::message::{ItemAddress, MessageFilter, MessageHeader, MessageId, MessageQueues};
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let out = ItemAddress::new("p", "OUT");
    let mut ids = Vec::new();
    for name in ["demo", "radiology", "demo", "radiology", "radiology"] {
        let messages = store.messages(&NamespaceId::new(name).unwrap()).unwrap();
        let id = messages.next_id().unwrap();
        let header = MessageHeader {
            source: ItemAddress::new("p", "IN"),
            received_at: 1_000,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: format!("1.2.3.{}", id.0),
            transfer_syntax: EXPLICIT.into(),
            calling_ae_title: "SCU".into(),
            called_ae_title: "SCP".into(),
            origin: "test".into(),
            size: 0,
            body: String::new(),
            sub_operation: None,
        };
        messages
            .accept(id, header, std::slice::from_ref(&out))
            .unwrap();
        ids.push(id);
    }
    let mut seen = Vec::new();
    let mut before: Option<MessageId> = None;
    for _ in 0..20 {
        let request = Request::MessagesList {
            filter: MessageFilter {
                limit: Some(2),
                scan: Some(1),
                before,
                ..MessageFilter::default()
            },
            every_namespace: true,
        };
        let Response::Messages {
            messages,
            more_before,
            ..
        } = execute(&store, &ns(), request).unwrap()
        else {
            panic!()
        };
        seen.extend(messages.iter().map(|m| m.id));
        before = match (messages.len(), more_before) {
            (2, _) => messages.last().map(|m| m.id),
            (_, Some(stop)) => Some(stop),
            _ => break,
        };
    }
    ids.reverse();
    assert_eq!(seen, ids, "every message once, newest first");
}
