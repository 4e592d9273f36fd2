//! Where backups are written, through OpenDAL: a directory of the server or an
//! S3-compatible bucket (any other service OpenDAL offers is a builder away). Objects are
//! written in parts as they stream in, and read back as a stream.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use opendal::{Operator, services};

use crate::domain::{Destination, DestinationKind, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("destination `{0}`: {1}")]
    Config(String, String),
    #[error("destination `{dest}`: {what} failed: {why}")]
    Io {
        dest: String,
        what: &'static str,
        why: String,
    },
}

/// Part size of multipart uploads: memory per running backup is about this.
const PART: usize = 8 * 1024 * 1024;

/// An open destination.
#[derive(Clone)]
pub struct Storage {
    name: String,
    op: Operator,
}

impl Storage {
    pub fn open(d: &Destination, secret: Option<&SecretString>) -> Result<Self, StorageError> {
        let name = d.name.to_string();
        let bad = |m: String| StorageError::Config(name.clone(), m);
        let op = match d.kind {
            DestinationKind::Local => {
                let path = d
                    .path
                    .as_deref()
                    .ok_or_else(|| bad("a local destination needs a path".into()))?;
                let root = match &d.prefix {
                    Some(p) => format!("{}/{p}", path.trim_end_matches('/')),
                    None => path.to_owned(),
                };
                Operator::new(services::Fs::default().root(&root))
                    .map_err(|e| bad(e.to_string()))?
                    .finish()
            }
            DestinationKind::S3 => {
                let need = |v: &Option<String>, what: &str| {
                    v.clone().ok_or_else(|| bad(format!("an S3 destination needs {what}")))
                };
                let mut b = services::S3::default()
                    .bucket(&need(&d.bucket, "a bucket")?)
                    .endpoint(&need(&d.endpoint, "an endpoint")?)
                    .region(d.region.as_deref().unwrap_or("us-east-1"))
                    .access_key_id(&need(&d.access_key_id, "an access key id")?)
                    .secret_access_key(
                        secret
                            .ok_or_else(|| bad("an S3 destination needs a secret access key".into()))?
                            .expose(),
                    )
                    // Only what the destination says: no credentials from the environment
                    // or an instance's metadata service.
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(p) = &d.prefix {
                    b = b.root(p);
                }
                Operator::new(b).map_err(|e| bad(e.to_string()))?.finish()
            }
        };
        Ok(Self { name, op })
    }

    fn io(&self, what: &'static str) -> impl Fn(opendal::Error) -> StorageError + '_ {
        move |e| StorageError::Io {
            dest: self.name.clone(),
            what,
            why: e.to_string(),
        }
    }

    /// Starts writing the object at `path`.
    pub async fn writer(&self, path: &str) -> Result<ObjectWriter<'_>, StorageError> {
        let w = self
            .op
            .writer_with(path)
            .chunk(PART)
            .await
            .map_err(self.io("opening"))?;
        Ok(ObjectWriter { storage: self, w })
    }

    /// The object at `path`, as a stream.
    pub async fn read(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, StorageError>> + use<'_>, StorageError> {
        // Bounded reads: a backend may otherwise answer the whole object at once.
        let r = self
            .op
            .reader_with(path)
            .chunk(PART)
            .await
            .map_err(self.io("reading"))?;
        let s = r.into_bytes_stream(..).await.map_err(self.io("reading"))?;
        let name = self.name.clone();
        Ok(s.map(move |c| {
            c.map_err(|e| StorageError::Io {
                dest: name.clone(),
                what: "reading",
                why: e.to_string(),
            })
        }))
    }

    pub async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.op.delete(path).await.map_err(self.io("deleting"))
    }

    /// Writes, reads back and deletes a small object: the destination works end to end.
    pub async fn probe(&self) -> Result<(), StorageError> {
        let path = format!(".sh0-probe-{}", uuid::Uuid::now_v7().simple());
        let body = b"sh0 destination test".to_vec();
        self.op
            .write(&path, body.clone())
            .await
            .map_err(self.io("writing a test object"))?;
        let back = self.op.read(&path).await.map_err(self.io("reading a test object"))?;
        self.op.delete(&path).await.map_err(self.io("deleting a test object"))?;
        if back.to_vec() != body {
            return Err(StorageError::Io {
                dest: self.name.clone(),
                what: "reading a test object",
                why: "it came back different".into(),
            });
        }
        Ok(())
    }
}

/// An object being written.
pub struct ObjectWriter<'a> {
    storage: &'a Storage,
    w: opendal::Writer,
}

impl ObjectWriter<'_> {
    pub async fn write(&mut self, data: Vec<u8>) -> Result<(), StorageError> {
        self.w.write(data).await.map_err(self.storage.io("writing"))
    }

    pub async fn close(mut self) -> Result<(), StorageError> {
        self.w.close().await.map(|_| ()).map_err(self.storage.io("finishing"))
    }

    /// Gives up the object: nothing (or nothing complete) is left behind.
    pub async fn abort(mut self) {
        let _ = self.w.abort().await;
    }
}
