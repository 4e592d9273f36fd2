//! Streaming authenticated encryption of backups: AES-256-GCM in the STREAM construction
//! (each 64 KiB chunk sealed with a counter and a last-chunk flag in its nonce), so a
//! backup of any size is encrypted and decrypted in constant memory, and a flipped byte,
//! a dropped, reordered or truncated chunk fails authentication instead of restoring.
//!
//! Layout: `SH0BKP01`, the length (u16, big-endian) and bytes of the backup's data key as
//! sealed by the master key (so that the file and the master key are enough to recover
//! it), the 7-byte stream nonce, then frames of `flag` (1 = last) `length` (u32) and the
//! sealed chunk.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, generic_array::GenericArray};
use rand::RngCore;

pub const MAGIC: &[u8; 8] = b"SH0BKP01";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const NONCE: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("the backup is not an sh0 backup, or its header is damaged")]
    Header,
    #[error("the backup failed authentication: it was changed, damaged or cut short")]
    Tampered,
}

/// A fresh random data key.
pub fn data_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

/// Encrypts a stream: feed it plaintext, write out what it returns.
pub struct Sealer {
    enc: Option<EncryptorBE32<Aes256Gcm>>,
    pending: Vec<u8>,
    header: Option<Vec<u8>>,
}

impl Sealer {
    pub fn new(key: &[u8; 32], sealed_key: &[u8]) -> Self {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&(sealed_key.len() as u16).to_be_bytes());
        header.extend_from_slice(sealed_key);
        header.extend_from_slice(&nonce);
        Self {
            enc: Some(EncryptorBE32::from_aead(cipher, GenericArray::from_slice(&nonce))),
            pending: Vec::with_capacity(CHUNK),
            header: Some(header),
        }
    }

    /// Takes plaintext; returns the bytes to write (possibly none yet).
    pub fn push(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        while !data.is_empty() {
            let room = CHUNK - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A full chunk is sealed only once more data follows: the last one is sealed
            // as last by `finish`.
            if self.pending.len() == CHUNK && !data.is_empty() {
                self.seal_pending(false, &mut out);
            }
        }
        out
    }

    /// Seals what is left as the last chunk.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.header.take().unwrap_or_default();
        self.seal_pending(true, &mut out);
        out
    }

    fn seal_pending(&mut self, last: bool, out: &mut Vec<u8>) {
        let chunk = std::mem::take(&mut self.pending);
        let sealed = if last {
            let enc = self.enc.take().expect("the stream is sealed once");
            enc.encrypt_last(chunk.as_slice())
        } else {
            self.enc
                .as_mut()
                .expect("the stream is open")
                .encrypt_next(chunk.as_slice())
        }
        .expect("AES-GCM seals any chunk of this size");
        out.push(u8::from(last));
        out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&sealed);
        self.pending = Vec::with_capacity(CHUNK);
    }
}

/// A backup's header: the sealed data key, the stream nonce, and where the frames begin.
pub type Header = (Vec<u8>, [u8; NONCE], usize);

/// Reads a backup's header; `None` when more bytes are needed.
pub fn read_header(buf: &[u8]) -> Result<Option<Header>, CryptError> {
    if buf.len() < MAGIC.len() + 2 {
        return Ok(None);
    }
    if &buf[..MAGIC.len()] != MAGIC {
        return Err(CryptError::Header);
    }
    let len = u16::from_be_bytes([buf[8], buf[9]]) as usize;
    let end = 10 + len + NONCE;
    if buf.len() < end {
        return Ok(None);
    }
    let mut nonce = [0u8; NONCE];
    nonce.copy_from_slice(&buf[10 + len..end]);
    Ok(Some((buf[10..10 + len].to_vec(), nonce, end)))
}

/// Decrypts a stream whose header was read: feed it the bytes after the header.
pub struct Opener {
    dec: Option<DecryptorBE32<Aes256Gcm>>,
    buf: Vec<u8>,
    done: bool,
}

impl Opener {
    pub fn new(key: &[u8; 32], nonce: &[u8; NONCE]) -> Self {
        let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
        Self {
            dec: Some(DecryptorBE32::from_aead(cipher, GenericArray::from_slice(nonce))),
            buf: Vec::new(),
            done: false,
        }
    }

    /// Takes ciphertext; returns the plaintext of every whole chunk it completes.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, CryptError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buf.len() < 5 {
                return Ok(out);
            }
            if self.done {
                return Err(CryptError::Tampered);
            }
            let last = match self.buf[0] {
                0 => false,
                1 => true,
                _ => return Err(CryptError::Tampered),
            };
            let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if len > CHUNK + TAG {
                return Err(CryptError::Tampered);
            }
            if self.buf.len() < 5 + len {
                return Ok(out);
            }
            let frame: Vec<u8> = self.buf.drain(..5 + len).skip(5).collect();
            let plain = if last {
                self.done = true;
                let dec = self.dec.take().ok_or(CryptError::Tampered)?;
                dec.decrypt_last(frame.as_slice())
            } else {
                self.dec
                    .as_mut()
                    .ok_or(CryptError::Tampered)?
                    .decrypt_next(frame.as_slice())
            }
            .map_err(|_| CryptError::Tampered)?;
            out.extend_from_slice(&plain);
        }
    }

    /// Ends the stream: it must have ended with its last chunk and nothing after.
    pub fn finish(self) -> Result<(), CryptError> {
        if self.done && self.buf.is_empty() {
            Ok(())
        } else {
            Err(CryptError::Tampered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seal_all(key: &[u8; 32], data: &[u8], piece: usize) -> Vec<u8> {
        let mut s = Sealer::new(key, b"sealed-key");
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            out.extend(s.push(p));
        }
        out.extend(s.finish());
        out
    }

    fn open_all(key: &[u8; 32], file: &[u8], piece: usize) -> Result<Vec<u8>, CryptError> {
        let (sealed, nonce, start) = read_header(file)?.ok_or(CryptError::Header)?;
        assert_eq!(sealed, b"sealed-key");
        let mut o = Opener::new(key, &nonce);
        let mut out = Vec::new();
        for p in file[start..].chunks(piece.max(1)) {
            out.extend(o.push(p)?);
        }
        o.finish()?;
        Ok(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Any data, fed in any pieces, comes back; any single flipped byte after the header,
        /// and any truncation, is refused.
        #[test]
        fn round_trips_and_refuses_any_change(len in 0usize..200_000, piece in 1usize..100_000, flip in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
            let key = data_key();
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let file = seal_all(&key, &data, piece);
            prop_assert_eq!(open_all(&key, &file, piece).unwrap(), data);
            let (_, _, start) = read_header(&file).unwrap().unwrap();
            let mut bad = file.clone();
            let at = start + flip.index(file.len() - start);
            bad[at] ^= 0x01;
            prop_assert!(open_all(&key, &bad, piece).is_err());
            let short = &file[..start + cut.index(file.len() - start)];
            prop_assert!(open_all(&key, short, piece).is_err());
            prop_assert!(open_all(&data_key(), &file, piece).is_err());
        }
    }
}
