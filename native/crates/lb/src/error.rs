//! The engine's error type: a kind the binding maps onto `thecloud.core.errors`, and a message.

use std::fmt;

/// Which `thecloud.core.errors` class an error becomes in Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad configuration: `InvalidArgumentError`.
    InvalidArgument,
    /// Wrong lifecycle step (start twice, update before start): `StateError`.
    State,
    /// An operating-system failure (bind, epoll, thread): `StateError` with the OS message.
    Io,
}

/// An engine error.
#[derive(Debug, Clone)]
pub struct LbError {
    pub kind: ErrorKind,
    pub message: String,
}

impl LbError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }

    pub fn state(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::State,
            message: message.into(),
        }
    }

    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self {
            kind: ErrorKind::Io,
            message: format!("{context}: {err}"),
        }
    }
}

impl fmt::Display for LbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LbError {}
