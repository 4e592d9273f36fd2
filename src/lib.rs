//! sh0: a self-hosted deployment platform in one binary. Every capability is a typed tool
//! in one registry (`registry`); REST, MCP and the CLI are adapters generated from it.
//! Dependencies flow one way: domain <- store/auth <- tools <- registry <- adapters <- main.

pub mod adapters;
pub mod ai;
pub mod auth;
pub mod backups;
pub mod build;
pub mod client;
pub mod databases;
pub mod deploy;
pub mod docker;
pub mod domain;
pub mod git;
pub mod jobs;
pub mod proxy;
pub mod registry;
pub mod server;
pub mod store;
pub mod tools;
pub mod util;
