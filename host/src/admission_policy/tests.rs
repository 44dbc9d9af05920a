//! The generated policy: what it is made of for each kind of setting.

use super::*;
