//! IoT Core's control plane against moto: `devices add|list|remove` and teardown make, describe and remove
//! things, certificates and policy attachments in the order IoT requires; private keys stay in their files.
//! (moto has no MQTT broker and skips the topic rule: the rule is checked in templates.rs.)

use serde_json::Value;

use crate::AwsEnv;

fn iot(env: &AwsEnv) -> aws_sdk_iot::Client {
    aws_sdk_iot::Client::new(&env.moto.sdk_config(&env.runtime))
}

/// The things of stack `reaqtions`, each with its certificates' ARNs.
fn things(env: &AwsEnv) -> Vec<(String, Vec<String>)> {
    let client = iot(env);
    let out = env
        .runtime
        .block_on(client.list_things().attribute_name("reaqtions_stack").attribute_value("reaqtions").send())
        .unwrap();
    let mut things: Vec<(String, Vec<String>)> = out
        .things()
        .iter()
        .map(|t| {
            let name = t.thing_name().unwrap().to_owned();
            let principals = env.runtime.block_on(client.list_thing_principals().thing_name(&name).send()).unwrap();
            (name, principals.principals().to_vec())
        })
        .collect();
    things.sort();
    things
}

#[test]
fn devices_are_registered_listed_and_removed_in_iot_core() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    let client = iot(&env);
    // (moto answers GetPolicy with the document as an object, which the SDK cannot read: list instead.)
    let policies = || -> Vec<String> {
        let out = env.runtime.block_on(client.list_policies().send()).unwrap();
        out.policies().iter().filter_map(|p| p.policy_name().map(str::to_owned)).collect()
    };
    assert!(policies().is_empty(), "the device policy comes with the first device");

    let out = env.cmd(&["devices", "add", "--devices", "3", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("PRIVATE KEY") && !stderr.contains("PRIVATE KEY"), "a key was printed");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["added"], serde_json::json!(["aq-0001", "aq-0002", "aq-0003"]));
    assert!(added["endpoint"].as_str().unwrap().ends_with("-ats.iot.us-east-1.amazonaws.com"), "{added}");
    assert!(added["example"].as_str().unwrap().contains("-t reaqtions/aq-0001/readings"));

    let dir = env.dir.path().join(".reaqtions/devices/reaqtions");
    let key = std::fs::read_to_string(dir.join("aq-0001.private.key")).unwrap();
    assert!(key.contains("PRIVATE KEY"), "the key IoT returned");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("aq-0001.private.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(dir.join("aq-0001.cert.pem")).unwrap().contains("BEGIN CERTIFICATE"));
    let registry: Value = serde_json::from_slice(&std::fs::read(dir.join("devices.json")).unwrap()).unwrap();
    assert_eq!(registry["devices"].as_array().unwrap().len(), 3);
    assert_eq!(registry["port"], 8883);

    // In IoT: each thing of the stack with one active certificate that holds the device policy.
    assert_eq!(policies(), ["reaqtions-device"]);
    let registered = things(&env);
    assert_eq!(registered.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["aq-0001", "aq-0002", "aq-0003"]);
    for (thing, certificates) in &registered {
        assert_eq!(certificates.len(), 1, "{thing}");
        let id = certificates[0].rsplit('/').next().unwrap();
        let described = env.runtime.block_on(client.describe_certificate().certificate_id(id).send()).unwrap();
        assert_eq!(described.certificate_description().unwrap().status().unwrap().as_str(), "ACTIVE");
        let attached = env.runtime.block_on(client.list_attached_policies().target(&certificates[0]).send()).unwrap();
        let names: Vec<&str> = attached.policies().iter().filter_map(|p| p.policy_name()).collect();
        assert_eq!(names, ["reaqtions-device"], "{thing}");
    }

    // More devices are numbered after the highest; a dry run names them first and registers nothing.
    let plan = env.ok(&["devices", "add", "--devices", "2", "--dry-run"]);
    assert!(plan.contains("would register 2 devices") && plan.contains("aq-0004, aq-0005"), "{plan}");
    assert_eq!(env.json(&["devices", "list", "--format", "json"]).as_array().unwrap().len(), 3, "nothing registered");
    // The old spelling `--count` still works, and says the new one.
    let old = env.cmd(&["devices", "add", "--count", "2", "--format", "json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&old.stderr).contains("--count is now --devices"));
    let more: serde_json::Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(more["added"], serde_json::json!(["aq-0004", "aq-0005"]));
    let listed = env.json(&["devices", "list", "--format", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert!(listed.as_array().unwrap().iter().all(|d| d["files_here"] == true && d["certificates"] == 1));

    // Removing asks; with --yes it goes in IoT's order, and the files go too.
    let refused = env.cmd(&["devices", "remove", "aq-0002"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "no terminal to ask on: a usage error");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let plan = env.ok(&["devices", "remove", "aq-0002", "--dry-run"]);
    assert!(plan.contains("would remove 1 device of stack reaqtions") && plan.contains("aq-0002"), "{plan}");
    assert_eq!(things(&env).len(), 5, "a dry run removes nothing");
    let unknown = env.cmd(&["devices", "remove", "aq-0099", "--yes"]).output().unwrap();
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no device aq-0099"));
    let certificate = registered[1].1[0].rsplit('/').next().unwrap().to_owned();
    env.ok(&["devices", "remove", "aq-0002", "--yes"]);
    assert_eq!(things(&env).len(), 4);
    assert!(env.runtime.block_on(client.describe_certificate().certificate_id(&certificate).send()).is_err());
    assert!(!dir.join("aq-0002.private.key").exists());

    // simulate over MQTT needs aq-0001 onwards registered, and says which one is not.
    let out = env.cmd(&["simulate", "--via", "mqtt", "--devices", "3", "--count", "1"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("first: aq-0002") && stderr.contains("devices add"), "{stderr}");

    // The local target has no identities to manage, and says so.
    let local = crate::Env::default();
    let out = local.cmd(&["devices", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("any client id may publish"));

    // Teardown removes the stack's devices before the stack (its policy cannot go while attached).
    let out = env.ok(&["teardown", "--yes"]);
    assert!(out.contains("removed stacks"), "{out}");
    assert!(things(&env).is_empty());
    assert!(policies().is_empty(), "the device policy went with its devices");
}
