//! Adapters over the registry. They never import each other; each maps `ErrorKind` once.

pub mod cli;
pub mod mcp;
pub mod rest;
