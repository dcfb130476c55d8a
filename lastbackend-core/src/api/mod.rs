//! The API's operations over a [`Store`](crate::store::Store), free of HTTP,
//! and the wire types the server, the client SDK and the agents share.

pub mod types;
