use std::fs;

use super::*;

fn filter(dir: &str) -> Filter {
    Filter {
        productions_dir: PathBuf::from(dir),
        plugin_files: [PathBuf::from("/p/route.wasm")].into(),
    }
}

#[test]
fn production_files_and_namespace_folders_are_relevant() {
    let f = filter("/prod");
    assert!(f.is_relevant(Path::new("/prod/demo/echo.toml")));
    assert!(f.is_relevant(Path::new("/prod/demo")));
    assert!(f.is_relevant(Path::new("/p/route.wasm")));
}

#[test]
fn temporary_and_foreign_files_are_not() {
    let f = filter("/prod");
    for path in [
        "/prod/demo/.echo.toml.swp",
        "/prod/demo/echo.toml~",
        "/prod/demo/4913",
        "/prod/demo/echo.toml.tmp",
        "/prod/echo.toml",
        "/prod/demo/sub/echo.toml",
        "/prod/.git",
        "/other/demo/echo.toml",
        "/p/other.wasm",
    ] {
        assert!(!f.is_relevant(Path::new(path)), "{path}");
    }
}

#[test]
fn reads_are_not_changes() {
    assert!(!is_change(&EventKind::Access(AccessKind::Open(
        notify::event::AccessMode::Any
    ))));
    assert!(!is_change(&EventKind::Access(AccessKind::Close(
        AccessMode::Read
    ))));
    assert!(is_change(&EventKind::Access(AccessKind::Close(
        AccessMode::Write
    ))));
    assert!(is_change(&EventKind::Remove(
        notify::event::RemoveKind::File
    )));
}

/// Waits for the next batch that is not empty; fails after a generous bound
/// (a bound, not a timing assertion: the watch should answer in ~100 ms).
async fn next(rx: &mut mpsc::UnboundedReceiver<Changes>) -> Changes {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a change within 10 s")
        .expect("watcher alive")
}

#[tokio::test]
async fn editor_style_save_is_one_change_of_the_real_file() {
    let dir = crate::store::private_tempdir();
    let ns = dir.path().join("demo");
    fs::create_dir(&ns).unwrap();
    let (_watcher, mut rx) = FileWatcher::start(dir.path(), Duration::from_millis(50)).unwrap();
    let root = dir.path().canonicalize().unwrap();

    // Write a swap file, then rename it over the production file.
    fs::write(ns.join(".echo.toml.swp"), "version = 1\n").unwrap();
    fs::rename(ns.join(".echo.toml.swp"), ns.join("echo.toml")).unwrap();
    let changes = next(&mut rx).await;
    assert_eq!(changes, vec![root.join("demo/echo.toml")]);

    fs::remove_file(ns.join("echo.toml")).unwrap();
    let changes = next(&mut rx).await;
    assert_eq!(changes, vec![root.join("demo/echo.toml")]);
}

#[tokio::test]
async fn new_namespace_folder_and_plugin_files_are_seen() {
    let dir = crate::store::private_tempdir();
    let plugins = crate::store::private_tempdir();
    let (mut watcher, mut rx) = FileWatcher::start(dir.path(), Duration::from_millis(50)).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let plugin = plugins.path().canonicalize().unwrap().join("route.wasm");
    watcher.set_plugin_files([plugin.clone()]).unwrap();

    fs::create_dir(dir.path().join("lab")).unwrap();
    let changes = next(&mut rx).await;
    assert_eq!(changes, vec![root.join("lab")]);

    fs::write(plugins.path().join("other.wasm"), b"x").unwrap();
    fs::write(&plugin, b"\0asm").unwrap();
    let changes = next(&mut rx).await;
    assert_eq!(changes, vec![plugin]);
}
