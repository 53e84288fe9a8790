//! Records packed into a sink's calls: [`Batcher`] closes a batch before one more record would break the
//! sink's [`SinkLimits`] (what simulate sends, what the local broker forwards).

use super::SinkLimits;

/// One record to send, with what the caller needs back when it is accepted.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing<T> {
    pub(crate) bytes: Vec<u8>,
    pub(crate) tag: T,
}

/// Packs records into batches within a sink's limits.
#[derive(Debug)]
pub(crate) struct Batcher<T> {
    records: Vec<Outgoing<T>>,
    bytes: usize,
    limits: SinkLimits,
}

impl<T> Batcher<T> {
    pub(crate) fn new(limits: SinkLimits) -> Self {
        Batcher { records: Vec::new(), bytes: 0, limits }
    }

    /// Adds a record; returns the full batch it closes, if adding it would exceed a limit.
    pub(crate) fn push(&mut self, record: Outgoing<T>) -> Option<Vec<Outgoing<T>>> {
        let full = !self.records.is_empty()
            && (self.records.len() == self.limits.batch_records
                || self.bytes + record.bytes.len() > self.limits.batch_bytes);
        let closed = if full { self.take() } else { None };
        self.bytes += record.bytes.len();
        self.records.push(record);
        closed
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn take(&mut self) -> Option<Vec<Outgoing<T>>> {
        self.bytes = 0;
        (!self.records.is_empty()).then(|| std::mem::take(&mut self.records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::FIREHOSE as LIMITS;

    #[test]
    fn batches_respect_count_and_size_limits() {
        let mut b = Batcher::new(LIMITS);
        let mut closed = Vec::new();
        for i in 0..1203 {
            if let Some(full) = b.push(Outgoing { bytes: vec![b'x'; 100], tag: i }) {
                closed.push(full.len());
            }
        }
        assert_eq!(closed, [500, 500]);
        assert_eq!(b.len(), 203);
        let mut big = Batcher::new(LIMITS);
        let sizes: Vec<usize> = (0..10)
            .filter_map(|i| big.push(Outgoing { bytes: vec![b'x'; 1000 * 1024], tag: i }).map(|f| f.len()))
            .collect();
        assert_eq!(sizes, [4, 4], "4 x 1000 KiB fit in 4 MiB, a fifth does not");
    }
}
