//! A device's id: how devices are numbered (`aq-0001`, what simulate sends as and `devices add` registers by
//! default), and how to find the id, sequence number and run a payload names without parsing it (valid or not,
//! sent or transformed), for the MQTT topic, `--verify` and failed records.

/// The id of simulated device `index` (0-based): `aq-0001` onwards, the ids `devices add` gives by default.
pub(crate) fn id(index: usize) -> String {
    format!("aq-{:04}", index + 1)
}

/// The value after `name` in a payload (`"name":"v"`, `"name":v` or `name=v`): letters, digits, `-` and `_`.
fn value_after<'a>(bytes: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(bytes, name)? + name.len();
    let rest = &bytes[at..];
    let start = rest.iter().position(|b| !matches!(b, b'"' | b':' | b'=' | b' '))?;
    let rest = &rest[start..];
    let len = rest.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))?;
    Some(&rest[..len])
}

/// The `device_id` a payload this tool sends names (valid or not).
pub(crate) fn id_in(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(value_after(bytes, b"device_id")?).ok().filter(|d| !d.is_empty())
}

/// Finds `device_id`, `seq` and `sim_run` in any payload this tool sends, valid or not (and in transformed
/// lines), without parsing it as JSON.
pub(crate) fn key_in(bytes: &[u8]) -> Option<(String, u64, String)> {
    let device = id_in(bytes)?.to_owned();
    let seq = std::str::from_utf8(value_after(bytes, b"seq")?).ok()?.parse().ok()?;
    let run = std::str::from_utf8(value_after(bytes, b"sim_run")?).ok()?.to_owned();
    Some((device, seq, run))
}
