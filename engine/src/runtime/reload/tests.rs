use std::fs;

use super::*;
use crate::runtime::plan::Folder;

fn production(port: u16, targets: &str, extra: &str) -> String {
    format!(
        r#"version = 1

[services.IN]
type = "dicom-tcp"
port = {port}
ae_title = "ROUTER"
targets = [{targets}]

[operations.OUT]
type = "file"
folder = "out"
{extra}"#
    )
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(crate::store::private_tempdir())
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    fn folder(&self) -> Folder {
        read_folder(self.0.path()).unwrap()
    }
}

fn no_probe(_: &Production) -> Vec<String> {
    Vec::new()
}

fn names(plan: &Plan) -> Vec<String> {
    plan.productions.iter().map(|p| p.id.to_string()).collect()
}

fn port_of(plan: &Plan, name: &str) -> u16 {
    let p = plan
        .productions
        .iter()
        .find(|p| p.id.name.as_str() == name)
        .unwrap();
    p.listen_addresses().first().map_or(0, |(a, _, _)| a.port())
}

#[test]
fn a_valid_folder_runs_as_written() {
    let dir = Dir::new();
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    dir.write("b/two.toml", &production(40002, r#""OUT""#, ""));
    let plan = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(names(&plan), ["a/one", "b/two"]);
    assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
}

#[test]
fn an_invalid_edit_keeps_the_running_version() {
    let dir = Dir::new();
    let file = dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    dir.write("a/one.toml", &production(40009, r#""OUT""#, "bogus = 1\n"));
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(plan.productions, running);
    let errors = &plan.rejected[&file];
    assert!(
        errors[0].contains("one.toml:") && errors[0].contains("bogus"),
        "{errors:?}"
    );
}

#[test]
fn an_invalid_new_file_does_not_run() {
    let dir = Dir::new();
    let file = dir.write(
        "a/one.toml",
        "version = 1\n[services.IN]\ntype = \"nope\"\n",
    );
    let plan = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe);
    assert!(plan.productions.is_empty());
    assert!(plan.rejected.contains_key(&file));
}

#[test]
fn a_deleted_file_stops_its_production() {
    let dir = Dir::new();
    let file = dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    dir.write("a/two.toml", &production(40002, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    fs::remove_file(file).unwrap();
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(names(&plan), ["a/two"]);
}

#[test]
fn a_port_another_production_holds_is_a_rejected_change() {
    let dir = Dir::new();
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let two = dir.write("b/two.toml", &production(40002, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    dir.write("b/two.toml", &production(40001, r#""OUT""#, ""));
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(
        port_of(&plan, "two"),
        40002,
        "the old version keeps serving"
    );
    assert!(
        plan.rejected[&two][0].contains("TCP port 40001"),
        "{:?}",
        plan.rejected
    );
}

#[test]
fn a_new_file_on_a_held_port_is_rejected_and_the_holder_untouched() {
    let dir = Dir::new();
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    let new = dir.write("a/zero.toml", &production(40001, r#""OUT""#, ""));
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(names(&plan), ["a/one"]);
    assert!(plan.rejected.contains_key(&new));
}

#[test]
fn a_port_freed_in_the_same_change_can_be_taken() {
    let dir = Dir::new();
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    dir.write("a/one.toml", &production(40003, r#""OUT""#, ""));
    dir.write("a/two.toml", &production(40001, r#""OUT""#, ""));
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(names(&plan), ["a/one", "a/two"]);
    assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
}

#[test]
fn a_port_the_system_refuses_keeps_the_running_version() {
    let dir = Dir::new();
    let file = dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    dir.write("a/one.toml", &production(40005, r#""OUT""#, ""));
    let refuse = |p: &Production| vec![format!("{}: port in use", p.file.display())];
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &refuse);
    assert_eq!(port_of(&plan, "one"), 40001);
    assert!(plan.rejected.contains_key(&file));
}

#[test]
fn a_held_file_keeps_its_running_version_until_it_changes() {
    let dir = Dir::new();
    let file = dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    dir.write("a/one.toml", &production(40007, r#""OUT""#, ""));
    let hold = BTreeMap::from([(file.clone(), vec!["could not start".to_string()])]);
    let plan = plan(&running, dir.folder(), &hold, &no_probe);
    assert_eq!(port_of(&plan, "one"), 40001);
    assert_eq!(plan.rejected[&file], ["could not start"]);
}

#[test]
fn a_second_file_with_a_running_name_is_rejected() {
    let dir = Dir::new();
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let running = plan(&[], dir.folder(), &BTreeMap::new(), &no_probe).productions;
    let copy = dir.write(
        "a/copy.toml",
        &format!("name = \"one\"\n{}", production(40002, r#""OUT""#, ""))
            .replacen("version = 1\n", "", 1)
            .replacen("name", "version = 1\nname", 1),
    );
    let plan = plan(&running, dir.folder(), &BTreeMap::new(), &no_probe);
    assert_eq!(names(&plan), ["a/one"]);
    assert_eq!(port_of(&plan, "one"), 40001);
    assert!(
        plan.rejected[&copy][0].contains("already used"),
        "{:?}",
        plan.rejected
    );
}

#[test]
fn a_misplaced_file_is_reported() {
    let dir = Dir::new();
    let file = dir.write("loose.toml", &production(40001, r#""OUT""#, ""));
    let folder = dir.folder();
    assert!(folder.invalid.contains_key(&file));
}

#[test]
fn fingerprints_change_with_content_only() {
    let dir = Dir::new();
    let file = dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    let first = fingerprint(dir.0.path(), &BTreeSet::new());
    dir.write("a/one.toml", &production(40001, r#""OUT""#, ""));
    assert_eq!(first, fingerprint(dir.0.path(), &BTreeSet::new()));
    dir.write(
        "a/one.toml",
        &production(40001, r#""OUT""#, "# a comment\n"),
    );
    let second = fingerprint(dir.0.path(), &BTreeSet::new());
    assert_ne!(first.get(&file), second.get(&file));
}

#[test]
fn touched_files_are_changed_added_and_gone() {
    let old = Fingerprint::from([
        (PathBuf::from("a"), 1),
        (PathBuf::from("b"), 2),
        (PathBuf::from("c"), 3),
    ]);
    let new = Fingerprint::from([
        (PathBuf::from("a"), 1),
        (PathBuf::from("b"), 9),
        (PathBuf::from("d"), 4),
    ]);
    let t: Vec<PathBuf> = touched(&old, &new).into_iter().collect();
    assert_eq!(
        t,
        [PathBuf::from("b"), PathBuf::from("c"), PathBuf::from("d")]
    );
}
