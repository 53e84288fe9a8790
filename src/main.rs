//! reaqtions CLI entry point (placeholder while the lambda crate lands).
fn main() {}
