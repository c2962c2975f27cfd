//! Every stable code tokenkeep gives, by concern.
//!
//! Each concern is a typed enum with `ALL`, `as_str()` and `from_code()`;
//! [`concerns`] lists them all, and the generator writes that list to
//! `tests/vectors/codes.json`, which every binding's tests compare with their
//! own exception classes and string unions.

/// Declares a fieldless code enum with `ALL`, `as_str`, `from_code` and `Display`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every code, in a stable order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// Parses a snake_case code.
            pub fn from_code(code: &str) -> Option<$name> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use code_enum;

/// One concern's codes, for the generated list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concern {
    /// The concern's name in `codes.json`.
    pub name: &'static str,
    /// What it covers.
    pub description: &'static str,
    /// Its codes, in the enum's order.
    pub codes: Vec<&'static str>,
}

fn concern<T: Copy>(name: &'static str, description: &'static str, all: &[T], f: fn(T) -> &'static str) -> Concern {
    Concern { name, description, codes: all.iter().map(|c| f(*c)).collect() }
}

/// Every concern the core defines. Hosts append their own (the runtime's
/// transport and handle errors) before writing the list.
pub fn concerns() -> Vec<Concern> {
    use crate::rejection::RejectionCode;
    use crate::spec::SpecErrorCode;
    vec![
        concern("rejection", "Why a token was rejected (metric label `reason`).", &RejectionCode::ALL, RejectionCode::as_str),
        concern("spec", "Why options were refused (with the field path).", SpecErrorCode::ALL, SpecErrorCode::as_str),
    ]
}
