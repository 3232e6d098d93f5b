//! rudder's test bed.
#![forbid(unsafe_code)]
