//! Examples for library users of lastbackend-rs. Each program sits beside this
//! file as `<subject>_<action>.rs`, and its header names the one command that
//! runs it.
