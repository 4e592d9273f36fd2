//! Source analysis, shared by the server (generating a Dockerfile for an upload that has
//! none) and the CLI (`sh0 push`, `sh0 check`, `sh0 init`, offline): stack detection,
//! Dockerfile generation, the packaging ignore rules, and the project health check.

pub mod check;
pub mod detect;
pub mod dockerfile;
pub mod ignore_rules;
pub mod tree;

pub use detect::{Detection, PackageManager, Stack, detect, detect_tree};
pub use dockerfile::{BaseImages, GenerateError, generate};
