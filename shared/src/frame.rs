//! Upstream frames: several consecutive envelopes of one node in one NATS
//! message, so the hub's JetStream stores, delivers and acknowledges one
//! message per frame instead of one per event. A message on `pvm.up.*` is
//! either a frame or a single envelope (which still starts with the
//! envelope's own magic bytes).
//!
//! Layout: `PVMF`, a u32 count, then per envelope a u32 length and its bytes
//! (big-endian). Each envelope is checked on its own by the hub; the frame
//! itself carries no trust.

pub const MAGIC: &[u8; 4] = b"PVMF";
/// Events per frame at most (a drain sends about 18 KiB frames).
pub const MAX_EVENTS: usize = 64;
/// A frame is closed before it would pass this size (NATS allows 1 MiB).
pub const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame truncated at envelope {index}")]
    Truncated { index: usize },
    #[error("a frame of {0} envelopes is not allowed (1 to {MAX_EVENTS})")]
    BadCount(usize),
    #[error("{0} trailing bytes after the frame")]
    TrailingBytes(usize),
}

/// Packs envelopes (already encoded) into one frame.
pub fn encode<'a>(envelopes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let envelopes: Vec<&[u8]> = envelopes.into_iter().collect();
    let size = 8 + envelopes.iter().map(|e| 4 + e.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(envelopes.len() as u32).to_be_bytes());
    for e in envelopes {
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// The envelopes in a message: a frame's, or the message itself.
pub fn split(message: &[u8]) -> Result<Vec<&[u8]>, FrameError> {
    let Some(rest) = message.strip_prefix(MAGIC.as_slice()) else {
        return Ok(vec![message]);
    };
    let word = |bytes: &[u8], at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(rest, 0).ok_or(FrameError::Truncated { index: 0 })?;
    if count == 0 || count > MAX_EVENTS {
        return Err(FrameError::BadCount(count));
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = 4;
    for index in 0..count {
        let len = word(rest, pos).ok_or(FrameError::Truncated { index })?;
        pos += 4;
        let end = pos
            .checked_add(len)
            .filter(|end| *end <= rest.len())
            .ok_or(FrameError::Truncated { index })?;
        out.push(&rest[pos..end]);
        pos = end;
    }
    if pos != rest.len() {
        return Err(FrameError::TrailingBytes(rest.len() - pos));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_plain_envelope_is_a_message_of_one() {
        let env = b"PVME\x00\x01rest".as_slice();
        assert_eq!(split(env), Ok(vec![env]));
    }

    #[test]
    fn broken_frames_are_named() {
        let good = encode([b"abc".as_slice(), b"de".as_slice()]);
        assert_eq!(
            split(&good[..good.len() - 1]),
            Err(FrameError::Truncated { index: 1 })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(split(&long), Err(FrameError::TrailingBytes(1)));
        assert_eq!(split(b"PVMF"), Err(FrameError::Truncated { index: 0 }));
        assert_eq!(split(b"PVMF\x00\x00\x00\x00"), Err(FrameError::BadCount(0)));
        assert_eq!(
            split(b"PVMF\xff\xff\xff\xff\x00"),
            Err(FrameError::BadCount(u32::MAX as usize))
        );
        let huge_len = [b"PVMF\x00\x00\x00\x01".as_slice(), &[0xff; 4], b"x"].concat();
        assert_eq!(split(&huge_len), Err(FrameError::Truncated { index: 0 }));
    }

    proptest! {
        #[test]
        fn frames_round_trip(envs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..=MAX_EVENTS)) {
            let frame = encode(envs.iter().map(|e| e.as_slice()));
            let back = split(&frame).expect("splits");
            prop_assert_eq!(back, envs.iter().map(|e| e.as_slice()).collect::<Vec<_>>());
        }

        #[test]
        fn any_bytes_split_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = split(&framed);
        }
    }
}
