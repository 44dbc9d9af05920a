//! The subcommands, one file each: each turns its flags into plain configuration and calls the
//! library.

pub mod cert;
pub mod manifests;
pub mod register;
pub mod run;
pub mod scan;
pub mod serve;
