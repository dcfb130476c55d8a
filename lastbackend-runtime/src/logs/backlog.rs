//! The shipper's memory: encoded records not yet acknowledged, oldest first,
//! bounded in bytes. No IO here; the connection task drives it.

use std::collections::VecDeque;

use super::wire::{Ack, SourceKey};

/// One encoded record waiting for its acknowledgement.
struct Entry {
    /// Its place in the order of [`Backlog::push`] calls.
    id: u64,
    key: SourceKey,
    seq: u64,
    frame: Vec<u8>,
}

/// Unacknowledged records, each sent (again) once after each connect.
pub(super) struct Backlog {
    entries: VecDeque<Entry>,
    bytes: usize,
    limit: usize,
    next_id: u64,
    pub(super) dropped_records: u64,
    pub(super) dropped_bytes: u64,
    pub(super) acked_records: u64,
}

impl Backlog {
    /// Holds at most `limit` bytes of frames (at least the newest one).
    pub(super) fn new(limit: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            limit,
            next_id: 0,
            dropped_records: 0,
            dropped_bytes: 0,
            acked_records: 0,
        }
    }

    /// Adds an encoded record, dropping the oldest ones while over the limit.
    pub(super) fn push(&mut self, key: SourceKey, seq: u64, frame: Vec<u8>) {
        self.bytes += frame.len();
        self.entries.push_back(Entry {
            id: self.next_id,
            key,
            seq,
            frame,
        });
        self.next_id += 1;
        while self.bytes > self.limit && self.entries.len() > 1 {
            if let Some(oldest) = self.entries.pop_front() {
                self.bytes -= oldest.frame.len();
                self.dropped_records += 1;
                self.dropped_bytes += oldest.frame.len() as u64;
            }
        }
    }

    /// Forgets the records the exporter holds.
    pub(super) fn ack(&mut self, ack: &Ack) {
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|e| {
            let held = e.key == ack.key && e.seq <= ack.seq;
            if held {
                freed += e.frame.len();
            }
            !held
        });
        self.bytes -= freed;
        self.acked_records += (before - self.entries.len()) as u64;
    }

    /// Up to `max_bytes` (at least one frame) of frames pushed at or after
    /// `cursor`, concatenated, and the cursor after them.
    pub(super) fn next_batch(&self, cursor: u64, max_bytes: usize) -> Option<(Vec<u8>, u64)> {
        let start = self.entries.partition_point(|e| e.id < cursor);
        let mut batch = Vec::new();
        let mut next = cursor;
        for entry in self.entries.iter().skip(start) {
            if !batch.is_empty() && batch.len() + entry.frame.len() > max_bytes {
                break;
            }
            batch.extend_from_slice(&entry.frame);
            next = entry.id + 1;
        }
        (!batch.is_empty()).then_some((batch, next))
    }

    /// How many records wait.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many bytes of frames wait.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(source: &str) -> SourceKey {
        SourceKey {
            pod: "demo:web:d_v1:ab12cd3".into(),
            container: "web".into(),
            source: source.into(),
        }
    }

    #[test]
    fn acks_free_only_their_source_up_to_their_sequence() {
        let mut backlog = Backlog::new(1000);
        for seq in 1..=3 {
            backlog.push(key("a"), seq, vec![b'a'; 10]);
            backlog.push(key("b"), seq, vec![b'b'; 10]);
        }
        backlog.ack(&Ack {
            key: key("a"),
            seq: 2,
        });
        assert_eq!(
            (backlog.len(), backlog.bytes(), backlog.acked_records),
            (4, 40, 2)
        );
        let (batch, next) = backlog.next_batch(0, usize::MAX).unwrap();
        assert_eq!(
            batch,
            [vec![b'b'; 20], vec![b'a'; 10], vec![b'b'; 10]].concat()
        );
        assert_eq!(next, 6);
        assert!(backlog.next_batch(next, usize::MAX).is_none());
    }

    #[test]
    fn over_the_limit_the_oldest_are_dropped_and_counted() {
        let mut backlog = Backlog::new(25);
        for seq in 1..=4 {
            backlog.push(key("a"), seq, vec![seq as u8; 10]);
        }
        assert_eq!((backlog.len(), backlog.bytes()), (2, 20));
        assert_eq!((backlog.dropped_records, backlog.dropped_bytes), (2, 20));
        let (batch, _) = backlog.next_batch(0, usize::MAX).unwrap();
        assert_eq!(batch, [vec![3u8; 10], vec![4u8; 10]].concat());
        // One frame over the whole limit is still kept until acknowledged.
        backlog.push(key("a"), 5, vec![5u8; 40]);
        assert_eq!((backlog.len(), backlog.dropped_records), (1, 4));
    }

    #[test]
    fn batches_respect_the_size_and_resume_at_the_cursor() {
        let mut backlog = Backlog::new(1000);
        for seq in 1..=5 {
            backlog.push(key("a"), seq, vec![seq as u8; 10]);
        }
        let (first, cursor) = backlog.next_batch(0, 25).unwrap();
        assert_eq!((first.len(), cursor), (20, 2));
        let (second, cursor) = backlog.next_batch(cursor, 25).unwrap();
        assert_eq!((second[0], cursor), (3, 4));
        // A reconnect sends everything unacknowledged again from cursor 0.
        backlog.ack(&Ack {
            key: key("a"),
            seq: 3,
        });
        let (again, _) = backlog.next_batch(0, usize::MAX).unwrap();
        assert_eq!(again, [vec![4u8; 10], vec![5u8; 10]].concat());
    }
}
