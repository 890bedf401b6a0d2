//! SDK plumbing: the clients built once from one `SdkConfig`, member accounts entered by
//! assuming a role, and the one error type every call returns.

pub mod accounts;
pub mod clients;
pub mod error;
