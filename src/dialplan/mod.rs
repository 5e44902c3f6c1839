//! Dialplans: ordered TOML routes that decide what happens to a call.
