//! Reads many objects concurrently, handing them to the caller in key order with a bounded number in memory
//! (at most `2 × concurrency` fetched and not yet consumed), whatever the number of objects.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use anyhow::Result;

use crate::seams::{ObjectLake, ObjectMeta};

/// Fetches `objects` with `concurrency` threads; `consume` sees each object's content (gunzipped when it is
/// gzip) or read error, in order.
/// Stops early, without fetching the rest, when `consume` returns an error.
pub(crate) fn for_each_object(
    lake: &dyn ObjectLake,
    objects: &[ObjectMeta],
    concurrency: usize,
    mut consume: impl FnMut(&ObjectMeta, Result<Vec<u8>>) -> Result<()>,
) -> Result<()> {
    let concurrency = concurrency.clamp(1, 256);
    let window = 2 * concurrency;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let consumed = Mutex::new(0usize);
    let advanced = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<u8>>)>();
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(objects.len()) {
            let tx = tx.clone();
            let (next, stop, consumed, advanced) = (&next, &stop, &consumed, &advanced);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= objects.len() {
                        return;
                    }
                    // Stay within the window ahead of the consumer.
                    let mut done = consumed.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *done + window && !stop.load(Ordering::Relaxed) {
                        done = advanced.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(done);
                    // Read by its bytes: gzip (Firehose's GZIP) or plain, whatever its name says.
                    let key = &objects[i].key;
                    let bytes = lake.get(key).and_then(|b| crate::compression::decoded(b, key));
                    if stop.load(Ordering::Relaxed) || tx.send((i, bytes)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut ready = BTreeMap::new();
        let mut want = 0;
        let result = (|| {
            for (i, bytes) in &rx {
                ready.insert(i, bytes);
                while let Some(bytes) = ready.remove(&want) {
                    consume(&objects[want], bytes)?;
                    want += 1;
                    *consumed.lock().unwrap_or_else(|e| e.into_inner()) = want;
                    advanced.notify_all();
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        advanced.notify_all();
        drop(rx);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::lake::DirLake;

    #[test]
    fn objects_arrive_in_order_and_errors_are_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        for i in 0..100 {
            lake.put(&format!("p/{i:03}"), i.to_string().as_bytes()).unwrap();
        }
        let mut objects = lake.list("p/").unwrap();
        objects.push(ObjectMeta { key: "p/missing".into(), size: 0, last_modified: chrono::Utc::now() });
        let mut seen = Vec::new();
        for_each_object(&lake, &objects, 8, |meta, bytes| {
            seen.push((meta.key.clone(), bytes.map(|b| String::from_utf8(b).unwrap()).ok()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 101);
        assert!(
            seen[..100].iter().enumerate().all(|(i, (k, v))| *k == format!("p/{i:03}") && *v == Some(i.to_string()))
        );
        assert_eq!(seen[100].1, None);
    }

    #[test]
    fn a_consumer_error_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        for i in 0..50 {
            lake.put(&format!("p/{i:03}"), b"x").unwrap();
        }
        let objects = lake.list("p/").unwrap();
        let mut n = 0;
        let err = for_each_object(&lake, &objects, 4, |_, _| {
            n += 1;
            if n == 3 { anyhow::bail!("enough") } else { Ok(()) }
        });
        assert!(err.is_err());
        assert_eq!(n, 3);
    }
}
