//! Errors of the metrics engine; the binding maps each kind onto `thecloud.core.errors`.

use std::fmt;

/// What went wrong, in the terms the Python error hierarchy uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad name, label, value or size from the caller; nothing was changed.
    InvalidArgument,
    /// The request contradicts what is registered (same name, other type or labels).
    Conflict,
    /// A limit (cardinality, cells, shards, metadata space) would be exceeded; nothing was changed.
    Capacity,
    /// The operating system refused (mmap, open, flock).
    Io,
}

/// An error with its kind and a message meant for the person who called.
#[derive(Debug)]
pub struct MetricsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl MetricsError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Conflict,
            message: message.into(),
        }
    }
    pub fn capacity(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Capacity,
            message: message.into(),
        }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self {
            kind: ErrorKind::Io,
            message: format!("{}: {source}", context.into()),
        }
    }
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MetricsError {}
