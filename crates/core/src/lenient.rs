//! Small deserializers that accept the spellings AWS actually sends.

use serde::{Deserialize, Deserializer};

/// Accepts `true`, `false`, `"true"`, `"false"` (any case) and `null` (as absent).
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    Ok(match Option::<B>::deserialize(d)? {
        None => None,
        Some(B::Bool(b)) => Some(b),
        Some(B::Str(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(B::Str(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(B::Str(_)) => None,
    })
}

/// Treats an empty string as absent: CloudTrail writes `"errorCode": ""` for some services.
pub(crate) fn opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// Accepts a number or a numeric string (GuardDuty's `count` has been seen as both).
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u64),
        Float(f64),
        Str(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None => None,
        Some(N::Int(n)) => Some(n),
        Some(N::Float(f)) if f >= 0.0 && f.is_finite() => Some(f as u64),
        Some(N::Float(_)) => None,
        Some(N::Str(s)) => s.trim().parse().ok(),
    })
}
