//! Go's spellings of strings and values, byte for byte, for the messages and annotations
//! Rampart writes in kube-apiserver's, kubectl's and aws-iam-authenticator's words.
//!
//! - [`quote`], [`quote_bytes`]: `strconv.Quote` (`fmt`'s `%q` of a string); [`quote_list`]:
//!   `%q` of a `[]string`.
//! - [`to_json`], [`to_json_sorted`]: `encoding/json`'s output (HTML characters and U+2028/U+2029
//!   escaped), of a struct (the value's own key order) or of a decoded map (keys sorted).
//! - [`GoValue`]: `%v` of a decoded `interface{}` (`map[a:1 b:[x y]]`).
//!
//! Written by hand because no crate reproduces Go's formatting: Rust's `{:?}` escapes other
//! characters, in another syntax, and `serde_json` leaves `<`, `>`, `&` alone. This crate depends
//! on none of ours and does no I/O, so every crate that speaks to a Go client can use it.

mod json;
mod quote;
mod value;

pub use json::{to_json, to_json_sorted};
pub use quote::{quote, quote_bytes, quote_list};
pub use value::GoValue;
