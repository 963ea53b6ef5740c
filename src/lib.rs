//! # iriskafka — the native Kafka bridge for InterSystems IRIS
//!
//! A `cdylib` that IRIS loads through the `$ZF` callout interface, exposing Kafka producers
//! and consumers (librdkafka, compiled in) as opaque handles through the function table
//! returned by [`boundary::GetZFTable`]. The Kafka core ([`producer`], [`consumer`],
//! [`config`], [`message`], [`wire`]) knows nothing of IRIS and is tested directly; the
//! [`boundary`] module is the only place with `unsafe` and the only one that knows the ABI.

#![warn(missing_docs)]

pub mod boundary;
pub mod client;
pub mod config;
pub mod consumer;
pub mod error;
pub mod handles;
pub mod message;
pub mod producer;
pub mod wire;

pub use error::{BridgeError, Result};
