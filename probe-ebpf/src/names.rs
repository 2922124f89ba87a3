//! Compile-time checks that an item has the name the agent looks it up by.

/// Fails the build unless `$item` (a map, program or global of this crate)
/// exists and `$name` (the `probe_common` constant the agent uses for it)
/// is its name: renaming either side alone no longer builds.
macro_rules! named {
    ($item:ident, $name:expr) => {
        const _: () = {
            let _ = &$item;
            assert!(
                probe_common::same_name(stringify!($item), $name),
                concat!(
                    stringify!($item),
                    " is not named as probe_common says: rename both"
                )
            );
        };
    };
}
pub(crate) use named;
