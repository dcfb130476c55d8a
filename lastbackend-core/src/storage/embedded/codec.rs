//! The on-disk encoding of records and history batches: little-endian
//! integers and length-prefixed byte strings, versioned by a leading byte so
//! the format can change later.

use bytes::Bytes;

use crate::storage::local::Record;
use crate::storage::{Error, Event, EventKind, KeyValue, LeaseId, Result, Revision};

const VERSION: u8 = 1;

fn corrupt(what: &str) -> Error {
    Error::unavailable("embedded", format!("corrupt {what} in the database"))
}

/// Writes a record (the key is the table key).
pub(super) fn encode_record(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + record.value.len());
    out.push(VERSION);
    put_record(&mut out, record);
    out
}

pub(super) fn decode_record(bytes: &[u8]) -> Result<Record> {
    let mut reader = Reader(bytes);
    if reader.u8()? != VERSION {
        return Err(corrupt("record version"));
    }
    reader.record()
}

/// Writes the events of one revision.
pub(super) fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(VERSION);
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for event in events {
        out.push(match event.kind {
            EventKind::Created => 0,
            EventKind::Updated => 1,
            EventKind::Deleted => 2,
        });
        put_bytes(&mut out, event.kv.key.as_bytes());
        put_record(&mut out, &to_record(&event.kv));
        match &event.prev {
            Some(prev) => {
                out.push(1);
                put_record(&mut out, &to_record(prev));
            }
            None => out.push(0),
        }
    }
    out
}

pub(super) fn decode_events(bytes: &[u8]) -> Result<Vec<Event>> {
    let mut reader = Reader(bytes);
    if reader.u8()? != VERSION {
        return Err(corrupt("history version"));
    }
    let count = reader.u32()?;
    let mut events = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kind = match reader.u8()? {
            0 => EventKind::Created,
            1 => EventKind::Updated,
            2 => EventKind::Deleted,
            _ => return Err(corrupt("event kind")),
        };
        let key = String::from_utf8(reader.bytes()?.to_vec()).map_err(|_| corrupt("key"))?;
        let kv = reader.record()?.into_key_value(key.clone());
        let prev = match reader.u8()? {
            0 => None,
            _ => Some(reader.record()?.into_key_value(key)),
        };
        events.push(Event { kind, kv, prev });
    }
    Ok(events)
}

fn to_record(kv: &KeyValue) -> Record {
    Record {
        value: kv.value.clone(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        lease: kv.lease,
    }
}

fn put_record(out: &mut Vec<u8>, record: &Record) {
    out.extend_from_slice(&record.create_revision.to_le_bytes());
    out.extend_from_slice(&record.mod_revision.to_le_bytes());
    match record.lease {
        Some(lease) => {
            out.push(1);
            out.extend_from_slice(&lease.to_le_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, &record.value);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt("entry (truncated)"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| corrupt("u32"))?,
        ))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| corrupt("u64"))?,
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn record(&mut self) -> Result<Record> {
        let create_revision: Revision = self.u64()?;
        let mod_revision: Revision = self.u64()?;
        let lease = match self.u8()? {
            0 => None,
            _ => Some(LeaseId::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| corrupt("lease"))?,
            )),
        };
        let value = Bytes::copy_from_slice(self.bytes()?);
        Ok(Record {
            value,
            create_revision,
            mod_revision,
            lease,
        })
    }
}
