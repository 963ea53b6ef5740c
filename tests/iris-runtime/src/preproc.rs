//! SKELETON: owned by a helper; see lib.rs.
