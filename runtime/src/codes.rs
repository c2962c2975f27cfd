//! Every code of every concern, core and runtime together: what
//! `tests/vectors/codes.json` holds and each binding's tests compare with.

pub use tokenkeep_core::codes::Concern;

/// Errors of the host surface itself (not of a token, an option or a credential).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostErrorCode {
    /// The handle was closed.
    Closed,
    /// A blocking or async wait ran out of time.
    Timeout,
    /// A bug: a panic caught at a binding's boundary (never a crash of the host process).
    InternalError,
}

impl HostErrorCode {
    /// Every code, in a stable order.
    pub const ALL: &'static [HostErrorCode] =
        &[HostErrorCode::Closed, HostErrorCode::Timeout, HostErrorCode::InternalError];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            HostErrorCode::Closed => "closed",
            HostErrorCode::Timeout => "timeout",
            HostErrorCode::InternalError => "internal_error",
        }
    }
}

/// The core's concerns, then the runtime's.
pub fn concerns() -> Vec<Concern> {
    let mut all = tokenkeep_core::codes::concerns();
    all.push(Concern {
        name: "host",
        description: "Errors of the host surface itself (closed handle, timeout, a caught panic).",
        codes: HostErrorCode::ALL.iter().map(|c| c.as_str()).collect(),
    });
    all.push(Concern {
        name: "credential_kind",
        description: "Kinds of outbound handles (`Event::source_kind`, metric label `kind`).",
        codes: crate::outbound::CredentialKind::ALL.iter().map(|k| k.as_str()).collect(),
    });
    all.push(Concern {
        name: "event",
        description: "Names of the events handles emit (`events().add(...)`, logging `event` field).",
        codes: crate::events::EVENT_NAMES.to_vec(),
    });
    all.push(Concern {
        name: "metric",
        description: "Metric families of `metrics_snapshot()`, the same names on every host.",
        codes: crate::metrics_registry::FAMILIES.iter().map(|(name, _, _)| *name).collect(),
    });
    all
}
