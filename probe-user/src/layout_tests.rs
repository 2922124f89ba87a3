//! The module map in `lib.rs` holds: each stage of the pipeline uses only
//! the stages above it (no circle), read from the sources' `crate::` paths
//! (test modules aside). A signal's folder (`signals/<signal>/`) holds one
//! file per part, and each part is held to its stage likewise.

use std::{collections::BTreeSet, fs, path::Path};

/// The stages, in the order data flows (as `lib.rs` lists them).
const STAGES: [&str; 10] = [
    "kernel", "collect", "identity", "snapshot", "window", "verdict", "sampler", "export", "api",
    "serve",
];

/// The parts of a signal's folder and the stage each belongs to (`rules`
/// is a command's part: it may use every stage).
const PARTS: [(&str, &str); 15] = [
    ("maps", "collect"),
    ("fold", "snapshot"),
    ("hooks", "kernel"),
    ("files", "collect"),
    ("listeners", "collect"),
    ("listen_drops", "collect"),
    ("overflows", "collect"),
    ("preemptions", "snapshot"),
    ("ports", "snapshot"),
    ("remotes", "snapshot"),
    ("window", "window"),
    ("score", "verdict"),
    ("metrics", "export"),
    ("api", "api"),
    ("rules", "serve"),
];

/// The fields of `signals::SignalParts` and the part each calls.
const SIGNAL_FIELDS: [(&str, &str); 4] = [
    ("fold", "fold"),
    ("judge", "score"),
    ("families", "metrics"),
    ("rules", "rules"),
];

/// The modules a source file names through `crate::` (`use crate::{a, b::c}`
/// included), test modules cut off.
fn named_modules(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            // Each item of the group (split at its top-level commas) names
            // a module first.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            named.insert(name);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.insert(name);
        }
    }
    named
}

/// Every `.rs` file below `dir`, but those declared as test modules.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    let declared_for_tests = fs::read_to_string(dir.join("mod.rs")).unwrap_or_default();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if declared_for_tests.contains(&format!("#[cfg(test)]\nmod {stem};")) {
            continue;
        }
        out.push((
            path.display().to_string(),
            fs::read_to_string(&path).unwrap(),
        ));
    }
}

#[test]
fn each_stage_uses_only_the_stages_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (at, stage) in STAGES.iter().enumerate() {
        let dir = src.join(stage);
        let mut files = Vec::new();
        if dir.is_dir() {
            sources(&dir, &mut files);
        } else {
            let file = src.join(format!("{stage}.rs"));
            files.push((
                file.display().to_string(),
                fs::read_to_string(&file).unwrap(),
            ));
        }
        for (file, source) in files {
            for named in named_modules(&source) {
                if let Some(later) = STAGES[at + 1..].iter().find(|s| **s == named) {
                    wrong.push(format!("{file} ({stage}) uses {later}, a later stage"));
                }
            }
            // Of a signal's folder, only the parts of this stage and
            // earlier ones.
            if source.contains("signals::") {
                for (part, part_stage) in PARTS {
                    let later = STAGES[at + 1..].contains(&part_stage);
                    let named = source.match_indices(&format!("{part}::")).any(|(i, _)| {
                        !source[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    });
                    if later && named {
                        wrong.push(format!(
                            "{file} ({stage}) uses a signal's {part}, of {part_stage}, a later stage"
                        ));
                    }
                }
            }
            // Through the list of signals, only the parts of this stage
            // and earlier ones.
            for (field, part) in SIGNAL_FIELDS {
                let (_, part_stage) = PARTS.iter().find(|(name, _)| *name == part).unwrap();
                let later = STAGES[at + 1..].contains(part_stage);
                if later && source.contains(&format!(".{field})(")) {
                    wrong.push(format!(
                        "{file} ({stage}) calls the signals' {field}, of {part_stage}, a later stage"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_field_of_a_signal_is_held_to_its_stage() {
    let list = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/signals/mod.rs"))
        .unwrap();
    let fields = &list[list.find("pub struct SignalParts {").unwrap()..];
    let fields = &fields[..fields.find("\n}").unwrap()];
    for line in fields.lines() {
        if let Some((name, _)) = line
            .trim()
            .strip_prefix("pub ")
            .and_then(|l| l.split_once(':'))
        {
            assert!(
                SIGNAL_FIELDS.iter().any(|(field, _)| *field == name),
                "Signal::{name} is not in SIGNAL_FIELDS"
            );
        }
    }
}

#[test]
fn each_part_of_a_signal_uses_only_its_stage_and_those_above() {
    let signals = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/signals");
    let mut wrong = Vec::new();
    for folder in fs::read_dir(&signals).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        for file in fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let part = file.file_stem().unwrap().to_string_lossy().into_owned();
            if part == "mod" {
                continue;
            }
            let Some((_, stage)) = PARTS.iter().find(|(name, _)| *name == part) else {
                wrong.push(format!("{}: no stage for the part {part}", file.display()));
                continue;
            };
            let at = STAGES.iter().position(|s| s == stage).unwrap();
            for named in named_modules(&fs::read_to_string(&file).unwrap()) {
                if let Some(later) = STAGES[at + 1..].iter().find(|s| **s == named) {
                    wrong.push(format!(
                        "{} ({stage}) uses {later}, a later stage",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn paths_are_read_from_uses() {
    let named = named_modules(
        "use crate::{a::b, c::{d, e}, f};\nfn x() { crate::g::h(); }\n#[cfg(test)]\nuse crate::z;",
    );
    assert_eq!(named.into_iter().collect::<Vec<_>>(), ["a", "c", "f", "g"]);
}

/// The tokens `pressure_…` of `source` outside comments, but those inside
/// a longer name (`container:pressure_…`, `fn …_pressure_…`), with their
/// line numbers.
fn pressure_tokens(source: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("pressure_") {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let token: String = line[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            tokens.push((n + 1, token));
        }
    }
    tokens
}

/// Every metric family's name is written once, where its family is built
/// (a constant, or the family's `name:`); everything else reads it from
/// there.
#[test]
fn each_family_name_is_written_in_its_familys_file_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    all_sources(&src, &mut files);
    // This file names the prefix to find it.
    files.retain(|(file, _)| !file.ends_with("layout_tests.rs"));
    let mut home = std::collections::BTreeMap::new();
    for (file, source) in &files {
        for line in source.lines() {
            let line = line.trim();
            let Some(name) = line
                .split_once(": &str = \"pressure_")
                .filter(|(before, _)| before.starts_with("pub const "))
                .or_else(|| line.split_once("name: \"pressure_"))
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(name, _)| format!("pressure_{name}"))
            else {
                continue;
            };
            if let Some(other) = home.insert(name.clone(), file.clone()) {
                panic!("{name} is named in {other} and {file}");
            }
        }
    }
    assert!(home.len() > 30, "found only {home:?}");
    let mut wrong = Vec::new();
    for (file, source) in &files {
        for (line, token) in pressure_tokens(source) {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| token.strip_suffix(suffix))
                .filter(|base| home.contains_key(*base))
                .unwrap_or(&token);
            match home.get(family) {
                Some(at) if at == file => {}
                Some(at) => wrong.push(format!("{file}:{line}: {token} (its family is in {at})")),
                // The crate's log target.
                None if token == "pressure_probe" => {}
                None => wrong.push(format!("{file}:{line}: {token}, a name of no family")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every `.rs` file below `dir`, test modules included.
fn all_sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), source));
        }
    }
}
