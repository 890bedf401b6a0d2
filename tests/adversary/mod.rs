//! The responder against an attacker who already holds ordinary credentials in the account:
//! each module runs one way in (a forged event, a chosen name, a pre-created group, an object
//! written over evidence, a tampered rule, a flood, a hostile string), asserts that Firebreak
//! refused it or paged it as S1, and asserts that the account and the evidence are unchanged.
//! README's "Security model" names each guarantee and the module that checks it.

mod bucket_policy;
mod clock_index;
mod evidence;
mod floods;
mod forged_events;
mod isolation;
mod names;
mod privileges;
mod protection;
mod self_defence;
mod wiring;
