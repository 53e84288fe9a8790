//! The role policies of `examples/iam/`, embedded: what `template iam` prints, what deploy's pre-flight simulates
//! (the deployer's) and what a denial's advice names. Placeholders in capitals (`aws::iam::fill`).

/// The least a principal needs to deploy, update and tear down one stack.
pub const DEPLOYER_POLICY: &str = include_str!("../../examples/iam/deployer.json");

/// The role policies, by name.
pub const ROLE_POLICIES: [(&str, &str); 5] = [
    ("deployer", DEPLOYER_POLICY),
    ("producer", include_str!("../../examples/iam/producer.json")),
    ("analyst", include_str!("../../examples/iam/analyst.json")),
    ("operator", include_str!("../../examples/iam/operator.json")),
    ("reprocessor", include_str!("../../examples/iam/reprocessor.json")),
];
