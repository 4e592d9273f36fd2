//! Commands run inside a container (`docker exec`): always an argument vector, secrets in
//! the exec's environment only, output captured up to a limit.

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{DockerClient, DockerError};

/// What a command run in a container printed, and how it ended.
#[derive(Debug)]
pub struct ExecOutput {
    /// The exit code (`-1` when Docker does not know it).
    pub code: i64,
    pub stdout: Vec<u8>,
    /// The tail of stderr, as text.
    pub stderr: String,
    /// Whether stdout went past the limit and was cut.
    pub truncated: bool,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// What to run.
pub struct Exec<'a> {
    pub argv: &'a [String],
    /// `KEY=value` pairs (passwords go here, never in `argv`).
    pub env: &'a [String],
    /// Written to the command's standard input, which is then closed.
    pub stdin: Option<&'a [u8]>,
    /// Run as this user (`postgres`), or the image's.
    pub user: Option<&'a str>,
    /// Keep at most this many bytes of stdout.
    pub limit: usize,
}

const STDERR_KEEP: usize = 8 * 1024;

impl DockerClient {
    /// Runs a command in a running container and waits for it to end.
    pub async fn exec(&self, container: &str, e: Exec<'_>) -> Result<ExecOutput, DockerError> {
        let mut run = self
            .start_exec(container, e.argv, e.env, e.user, e.stdin.is_some())
            .await?;
        if let Some(data) = e.stdin {
            let data = data.to_vec();
            let mut input = std::mem::replace(&mut run.input, Box::pin(tokio::io::sink()));
            tokio::spawn(async move {
                let _ = input.write_all(&data).await;
                let _ = input.shutdown().await;
            });
        }
        let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
        while let Some(chunk) = run.output.next().await {
            match chunk? {
                ExecChunk::Stdout(message) => {
                    let room = e.limit.saturating_sub(stdout.len());
                    if message.len() > room {
                        truncated = true;
                    }
                    stdout.extend_from_slice(&message[..message.len().min(room)]);
                }
                ExecChunk::Stderr(message) => {
                    stderr.extend_from_slice(&message);
                    if stderr.len() > 2 * STDERR_KEEP {
                        stderr.drain(..stderr.len() - STDERR_KEEP);
                    }
                }
            }
        }
        let code = self.exec_exit_code(run.id()).await?;
        let stderr = String::from_utf8_lossy(&stderr[stderr.len().saturating_sub(STDERR_KEEP)..]).into_owned();
        Ok(ExecOutput {
            code,
            stdout,
            stderr,
            truncated,
        })
    }
}

/// A piece of a streaming command's output.
pub enum ExecChunk {
    Stdout(bytes::Bytes),
    Stderr(bytes::Bytes),
}

/// A command running in a container, its input and output open: for dumps and restores,
/// which stream far more than fits in memory.
pub struct ExecStream {
    id: String,
    pub output: std::pin::Pin<Box<dyn futures::Stream<Item = Result<ExecChunk, DockerError>> + Send>>,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl ExecStream {
    /// The exec's id, for [`DockerClient::exec_exit_code`].
    pub fn id(&self) -> String {
        self.id.clone()
    }
}

impl DockerClient {
    /// Starts a command in a running container with its input and output attached.
    pub async fn exec_stream(
        &self,
        container: &str,
        argv: &[String],
        env: &[String],
    ) -> Result<ExecStream, DockerError> {
        self.start_exec(container, argv, env, None, true).await
    }

    /// Creates and starts an exec, its output attached (and its input, when asked).
    async fn start_exec(
        &self,
        container: &str,
        argv: &[String],
        env: &[String],
        user: Option<&str>,
        stdin: bool,
    ) -> Result<ExecStream, DockerError> {
        let d = self.docker().await?;
        let created = d
            .create_exec(
                container,
                CreateExecOptions::<String> {
                    cmd: Some(argv.to_vec()),
                    env: Some(env.to_vec()),
                    user: user.map(str::to_owned),
                    attach_stdin: Some(stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        let started = d
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(1024 * 1024),
                }),
            )
            .await?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(DockerError::Api("exec started detached".into()));
        };
        let output = output.filter_map(|item| async move {
            match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    Some(Ok(ExecChunk::Stdout(message)))
                }
                Ok(LogOutput::StdErr { message }) => Some(Ok(ExecChunk::Stderr(message))),
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(DockerError::from(e))),
            }
        });
        Ok(ExecStream {
            id: created.id,
            output: Box::pin(output),
            input,
        })
    }

    /// Kills a streaming command (SIGKILL, by its pid in the container) without closing its
    /// input: a restore whose input failed half-way must never take what it got as the
    /// whole (closing stdin would let it commit a cut dump).
    pub async fn exec_kill(&self, container: &str, exec_id: String) -> Result<(), DockerError> {
        let pid = self.docker().await?.inspect_exec(&exec_id).await?.pid.unwrap_or(0);
        if pid <= 0 {
            return Ok(());
        }
        self.exec(
            container,
            Exec {
                argv: &["kill".to_owned(), "-9".to_owned(), pid.to_string()],
                env: &[],
                stdin: None,
                user: None,
                limit: 1024,
            },
        )
        .await
        .map(|_| ())
    }

    /// The exit code of a streaming command, once its output has ended.
    pub async fn exec_exit_code(&self, exec_id: String) -> Result<i64, DockerError> {
        Ok(self
            .docker()
            .await?
            .inspect_exec(&exec_id)
            .await?
            .exit_code
            .unwrap_or(-1))
    }
}
