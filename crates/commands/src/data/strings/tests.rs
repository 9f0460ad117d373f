//! Unit tests of the string commands against a real keyspace.
