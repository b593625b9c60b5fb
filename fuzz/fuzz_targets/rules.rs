//! The rule compiler on arbitrary rule files: the input is split at the first NUL byte into a rule file and a
//! named list. Loading must return the rule set or every error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (rules, list) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let lists = dir.path().join("lists");
    if std::fs::create_dir(&lists).is_err()
        || std::fs::write(dir.path().join("fuzz.toml"), rules).is_err()
        || std::fs::write(lists.join("shops.txt"), list).is_err()
    {
        return;
    }
    let _ = strainer::rules::load_dir(dir.path());
});
