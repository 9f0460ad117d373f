//! Set commands (being written).

use super::Handler;

/// The handler of a command of this family, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let _ = full_name;
    None
}
