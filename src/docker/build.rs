//! Image builds with the classic builder, streaming the build output line by line.

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::path::Path;
use tokio::io::AsyncReadExt;

use super::{DockerClient, DockerError};

/// One event of a build.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A line of build output.
    Log(String),
}

impl DockerClient {
    /// Builds `context_tar` (a tar of the build context on disk) into `tag`. Output lines are
    /// passed to `on_log` as they arrive. Dropping the returned future closes the
    /// connection, which makes the daemon stop the build.
    pub async fn build(
        &self,
        context_tar: &Path,
        tag: &str,
        labels: &HashMap<String, String>,
        mut on_log: impl FnMut(BuildEvent) + Send,
    ) -> Result<(), DockerError> {
        let docker = self.docker().await?;
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .build();
        let file = tokio::fs::File::open(context_tar)
            .await
            .map_err(|e| DockerError::Build(format!("build context: {e}")))?;
        let body = bollard::body_try_stream(file_chunks(file));
        let mut stream = docker.build_image(options, None, Some(body));
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(DockerError::Build(error)),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(DockerError::Build(message));
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Build(detail));
            }
            if let Some(text) = info.stream.or(info.status) {
                pending.push_str(&text);
                while let Some(i) = pending.find('\n') {
                    let line: String = pending.drain(..=i).collect();
                    on_log(BuildEvent::Log(line.trim_end().to_owned()));
                }
            }
        }
        if !pending.trim().is_empty() {
            on_log(BuildEvent::Log(pending.trim_end().to_owned()));
        }
        Ok(())
    }

    pub async fn image_exists(&self, reference: &str) -> Result<bool, DockerError> {
        match self.docker().await?.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Pulls `reference`, reporting progress lines.
    pub async fn pull(&self, reference: &str, mut on_log: impl FnMut(BuildEvent) + Send) -> Result<(), DockerError> {
        let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(reference)
            .build();
        let mut stream = self.docker().await?.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Build(format!("pulling {reference}: {e}")))?;
            if let Some(s) = info.status {
                on_log(BuildEvent::Log(s));
            }
        }
        Ok(())
    }

    /// Removes an image; a missing or in-use image is not an error (it is retried next time).
    pub async fn remove_image(&self, reference: &str) {
        if let Ok(d) = self.docker().await {
            let _ = d
                .remove_image(reference, None::<bollard::query_parameters::RemoveImageOptions>, None)
                .await;
        }
    }
}

/// The file as a stream of 64 KiB chunks, so a large context is never held in memory.
fn file_chunks(file: tokio::fs::File) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
