//! What the analyzer of failed deployments asks of a container beyond its state: the TCP
//! sockets its processes listen on, read from `/proc/net/tcp{,6}` in its network namespace
//! (by `cat` run inside it, with an argument vector; or, when the image has no `cat` and
//! the daemon is on this host, from the host's `/proc/<pid>/net`). Also the one setting
//! changed on a running container: its restart policy.

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerUpdateBody, RestartPolicyNameEnum};
use futures::StreamExt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{DockerClient, DockerError};
use crate::domain::RestartPolicy;
use crate::domain::diagnosis::Listener;

/// The `/proc/net/tcp` state of a listening socket.
const TCP_LISTEN: &str = "0A";
/// Docker's embedded DNS server, inside every container of a user-defined network.
const DOCKER_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// Enough for thousands of sockets; an answer beyond it is cut.
const MAX_OUTPUT: usize = 1 << 20;

impl DockerClient {
    /// The TCP sockets listening inside a running container, deduplicated and sorted.
    pub async fn listening(&self, id: &str) -> Result<Vec<Listener>, DockerError> {
        let text = match self.exec_output(id, &["cat", "/proc/net/tcp", "/proc/net/tcp6"]).await {
            Ok(t) if t.contains("local_address") => t,
            other => match self.host_net_tables(id).await {
                Some(t) => t,
                None => return other.and(Err(DockerError::Api("the container's sockets cannot be read".into()))),
            },
        };
        let mut out = parse_proc_net_tcp(&text);
        // Docker's own DNS resolver listens in every container of a user-defined network.
        out.retain(|l| l.ip != IpAddr::V4(DOCKER_DNS));
        out.sort_by_key(|l| (l.port, l.ip));
        out.dedup();
        Ok(out)
    }

    /// What a command run inside the container prints on stdout (at most 1 MiB, 5 s).
    async fn exec_output(&self, id: &str, argv: &[&str]) -> Result<String, DockerError> {
        let d = self.docker().await?;
        let exec = d
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(argv.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await?;
        let StartExecResults::Attached { mut output, .. } = d.start_exec(&exec.id, None).await? else {
            return Err(DockerError::Api("exec did not attach".into()));
        };
        let mut buf = Vec::new();
        let read = async {
            while let Some(chunk) = output.next().await {
                buf.extend_from_slice(&chunk?.into_bytes());
                if buf.len() > MAX_OUTPUT {
                    break;
                }
            }
            Ok::<(), DockerError>(())
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .map_err(|_| DockerError::Api("exec timed out".into()))??;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The container's socket tables read from this host's `/proc`, when the daemon runs on
    /// this host (a Unix socket): a process id of another host would name another process.
    async fn host_net_tables(&self, id: &str) -> Option<String> {
        let local = std::env::var("DOCKER_HOST").map_or(true, |h| h.starts_with("unix://"));
        if !local {
            return None;
        }
        let info = self
            .docker()
            .await
            .ok()?
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .ok()?;
        let pid = info.state?.pid.filter(|p| *p > 0)?;
        let mut text = String::new();
        for table in ["tcp", "tcp6"] {
            if let Ok(t) = tokio::fs::read_to_string(format!("/proc/{pid}/net/{table}")).await {
                text.push_str(&t);
            }
        }
        text.contains("local_address").then_some(text)
    }

    /// Changes a container's restart policy in place.
    pub async fn set_restart_policy(&self, id: &str, policy: RestartPolicy) -> Result<(), DockerError> {
        let d = self.docker().await?;
        let body = ContainerUpdateBody {
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(restart_policy_name(policy)),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        d.update_container(id, body).await?;
        Ok(())
    }
}

pub(super) fn restart_policy_name(policy: RestartPolicy) -> RestartPolicyNameEnum {
    match policy {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
    }
}

/// The listening sockets of `/proc/net/tcp` and `/proc/net/tcp6` text: addresses are hex,
/// IPv4 as one little-endian word, IPv6 as four; ports are big-endian hex.
fn parse_proc_net_tcp(text: &str) -> Vec<Listener> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let _slot = cols.next()?;
            let local = cols.next()?;
            let _remote = cols.next()?;
            if cols.next()? != TCP_LISTEN {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let ip = match addr.len() {
                8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.swap_bytes())),
                32 => {
                    let mut bytes = [0u8; 16];
                    for i in 0..4 {
                        let word = u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok()?;
                        bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
                    }
                    let v6 = Ipv6Addr::from(bytes);
                    // An IPv4-mapped address is the IPv4 socket it stands for.
                    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                }
                _ => return None,
            };
            Some(Listener { ip, port })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listening_sockets_of_both_families() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
";
        let got: Vec<String> = parse_proc_net_tcp(text).iter().map(ToString::to_string).collect();
        assert_eq!(got, ["127.0.0.1:8080", "0.0.0.0:80", "[::]:3000", "[::1]:8081"]);
    }
}
