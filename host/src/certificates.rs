//! The webhook's certificates: the CA and serving certificate pullthrough generates (rcgen) and
//! how `serve` keeps its certificate fresh.

mod authority;
pub(crate) mod rotation;

pub use authority::*;
