//! The `tot` command.

fn main() {}
