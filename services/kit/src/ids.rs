//! Typed ids: a tenant id cannot be passed where a user id is expected, and
//! every id is parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use crate::error::{ApiError, ErrorKind};

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Parses an id received from outside, naming `field` in the error.
            pub fn parse_field(raw: &str, field: &str) -> Result<Self, ApiError> {
                raw.parse().map_err(|_| {
                    ApiError::new(ErrorKind::InvalidArgument, "invalid_id", concat!("not a valid ", $what, " id"))
                        .with_detail(field, "must be a UUID")
                })
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// A tenant (a business using Aerostic).
    TenantId,
    "tenant"
);
typed_id!(
    /// A user of a tenant.
    UserId,
    "user"
);
typed_id!(
    /// A message, inbound or outbound.
    MessageId,
    "message"
);
typed_id!(
    /// An audit event.
    AuditEventId,
    "audit event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = TenantId::new();
        assert_eq!(id.to_string().parse::<TenantId>().unwrap(), id);
        let err = UserId::parse_field("nope", "user_id").unwrap_err();
        assert_eq!(
            err.details.get("user_id").map(String::as_str),
            Some("must be a UUID")
        );
    }
}
