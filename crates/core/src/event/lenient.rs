//! Small deserializers that accept the spellings AWS actually sends.

use serde::de::{Error as _, Unexpected};
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

/// Accepts a number or a numeric string (GuardDuty's `count` has been seen as both). A
/// negative count, in either spelling, is refused: no finding was seen fewer than zero times.
/// Anything else that is not a number is treated as absent.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u64),
        Float(f64),
        Str(String),
    }
    let float = |f: f64| {
        if f < 0.0 {
            Err(D::Error::invalid_value(
                Unexpected::Float(f),
                &"a count of zero or more",
            ))
        } else {
            Ok(Some(f as u64).filter(|_| f.is_finite()))
        }
    };
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Int(n)) => Ok(Some(n)),
        Some(N::Float(f)) => float(f),
        Some(N::Str(s)) => match s.trim().parse::<u64>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => s.trim().parse::<f64>().map_or(Ok(None), float),
        },
    }
}
