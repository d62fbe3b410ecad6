//! An example dynamic tot plugin: the built-in strace backend, exported through the
//! plugin C ABI.
//!
//! Build it with `cargo build --release -p tot-plugin-strace-wrapper`, then declare it:
//!
//! ```toml
//! [backends.strace-plugin]
//! library = "target/release/libtot_plugin_strace_wrapper.so"
//! ```
//!
//! or copy the library into tot's plugin directory (`~/.config/tot/plugins/`), where it is
//! found under the name it gives itself, `strace-plugin`. Either way
//! `tot --backend=strace-plugin make` traces through it.
//!
//! Everything a plugin needs is the one macro call below: any type implementing
//! `tot_api::Backend` can stand where `StraceBackend` does.

#![deny(missing_docs)]

#[cfg(unix)]
tot_plugin_abi::export_backend!(
    name: "strace-plugin",
    platforms: "linux",
    backend: tot_backend_strace::StraceBackend::new()
);
