//! One settings shape in every JSON that carries a pipeline's settings: `deploy`, `deploy --dry-run` and `status`
//! print the same `settings` object (the settings file's keys), on the local target and on moto; and a dry run
//! names each setting it would change as old → new against what is deployed.

use serde_json::{Value, json};

use crate::{AwsEnv, Cli, Env};

#[test]
fn deploy_dry_run_and_status_show_one_settings_object_locally() {
    one_settings_object(&Env::default(), &[]);
}

#[test]
fn deploy_dry_run_and_status_show_one_settings_object_on_moto() {
    let env = AwsEnv::start();
    let zip = env.zip();
    one_settings_object(&env, &["--lambda-zip", zip.to_str().unwrap()]);
}

/// `dry_run_args` is what a dry run needs on the target besides `deploy --dry-run` (a zip on AWS, so that the
/// plan names its key rather than a checkout).
fn one_settings_object(target: &dyn Cli, dry_run_args: &[&str]) {
    let on = target.target();
    let dry_run =
        |args: &[&str]| target.json(&[&["deploy", "--dry-run", "--format", "json"], dry_run_args, args].concat());
    let dry_table = |args: &[&str]| target.ok(&[&["deploy", "--dry-run"], dry_run_args, args].concat());

    // Nothing deployed: the plan is a create, with every value.
    let create = dry_run(&[]);
    assert_eq!(create["change"], "create", "{on}: {create}");
    assert_eq!(create["changes"], json!([]), "{on}: {create}");
    let table = dry_table(&[]);
    assert!(table.contains("create") && table.contains("settings.lambda_memory_mb"), "{on}: {table}");

    let deployed = target.deploy(&[]);
    let settings = &deployed["settings"];
    assert_eq!(settings["stack"], "reaqtions", "{on}: {deployed}");
    let declared: Vec<&str> = reaqtions::settings::DECLARED.iter().map(|d| d.key).chain(["stack"]).collect();
    let mut keys: Vec<&str> = settings.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = declared.clone();
    keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{on}: deploy's settings are the settings file's keys: {settings}");
    assert_eq!(&create["settings"], settings, "{on}: the create plan's settings are those deployed");
    let status = target.json(&["status", "--format", "json"]);
    assert_eq!(&status["settings"], settings, "{on}: status and deploy show one settings object: {status}");

    // The same settings again: no change, and the table says only that.
    let same = dry_run(&[]);
    assert_eq!((&same["change"], &same["changes"]), (&json!("no change"), &json!([])), "{on}: {same}");
    assert_eq!(&same["settings"], settings, "{on}: {same}");
    assert_eq!(same["unchanged"], declared.len() - 1, "{on}: every setting stays: {same}");
    let table = dry_table(&[]);
    assert!(table.contains("no change") && !table.contains("settings.lambda_memory_mb"), "{on}: {table}");

    // One setting changed: exactly that change, old → new; the rest stay.
    let one = dry_run(&["--buffer-interval-seconds", "120"]);
    assert_eq!(one["change"], "update", "{on}: {one}");
    let change = json!([{"key": "buffer_interval_seconds", "old": settings["buffer_interval_seconds"], "new": 120}]);
    assert_eq!(one["changes"], change, "{on}: {one}");
    assert_eq!(one["unchanged"], declared.len() - 2, "{on}: {one}");
    assert_eq!(one["settings"]["buffer_interval_seconds"], 120, "{on}: {one}");
    let table = dry_table(&["--buffer-interval-seconds", "120"]);
    let row = format!("{} → 120", settings["buffer_interval_seconds"]);
    assert!(table.contains("settings.buffer_interval_seconds") && table.contains(&row), "{on}: {table}");
    assert!(!table.contains("settings.lambda_memory_mb"), "{on}: the table shows only what changes: {table}");
    let stay = format!("{} settings stay as deployed", declared.len() - 2);
    assert!(table.contains(&stay), "{on}: {table}");
    let after = target.json(&["status", "--format", "json"]);
    assert_eq!(&after["settings"], settings, "{on}: a dry run changes nothing");

    // Deployed, the change is in the settings deploy and status print alike.
    let updated = target.deploy(&["--buffer-interval-seconds", "120"]);
    assert_eq!(&updated["settings"], &one["settings"], "{on}: deployed as planned: {updated}");
    let status = target.json(&["status", "--format", "json"]);
    assert_eq!(&status["settings"], &updated["settings"], "{on}: {status}");
    assert_eq!(dry_run(&["--buffer-interval-seconds", "120"])["change"], Value::from("no change"), "{on}");
}
