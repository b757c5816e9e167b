//! Where objects live: the object service ([`objects`], the one module a write goes through
//! after its handler) with its admission chain contract ([`admission`]) and the built-in service
//! allocation hook ([`allocator`]); the store adapter ([`object_store`]: key layout, stored form, timed
//! access); the watch hub ([`watch`]: one store watch fanned out to every watcher); conversion
//! between served and stored versions ([`convert`]); unknown-field pruning ([`fields`]).

pub mod admission;
pub(crate) mod allocator;
pub(crate) mod convert;
pub(crate) mod fields;
pub(crate) mod object_store;
pub mod objects;
pub mod watch;
