//! What Firebreak may do: the actions a plan holds, each stating its facts in one place
//! ([`plan::Action::facts`]), and the names and text rules every identifier in an action obeys.

pub mod memory;
pub mod names;
pub mod plan;
