//! (filled by its item of the security model)
