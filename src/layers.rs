//! The crate's layers, written once, and the test that holds the code to them.
//!
//! Each top-level module may import (`crate::<module>`, or `sluice::<module>` in the binary) only the
//! modules listed beside it. The bottom holds the types every layer shares and the pure rules:
//! `wire` (what is sent and stored), `privacy` (who may see what), `clock`; `flex` and `settle` are the
//! pure domain; `store` is the only module that speaks SQL; `service` is the only way to data for `api`
//! and the CLI; `startup` composes everything.

/// `(module, modules it may import)`. `main` and `cli` are the command-line program, `lib` the crate root.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("wire", &[]),
    ("privacy", &[]),
    ("flex", &["wire"]),
    ("settle", &["wire", "flex"]),
    ("store", &["wire", "privacy"]),
    ("error", &["wire", "store"]),
    ("auth", &["wire", "clock", "error"]),
    ("config", &["wire", "flex", "store"]),
    ("notify", &["wire", "privacy", "store", "auth", "config", "clock"]),
    (
        "service",
        &[
            "wire", "privacy", "flex", "settle", "store", "notify", "auth", "config", "clock", "error",
        ],
    ),
    (
        "api",
        &["wire", "privacy", "service", "auth", "config", "clock", "error"],
    ),
    (
        "startup",
        &[
            "wire", "privacy", "flex", "settle", "store", "notify", "auth", "config", "clock", "error", "service",
            "api",
        ],
    ),
    ("sim", &["wire", "clock", "startup"]),
    (
        "main",
        &[
            "wire", "service", "api", "startup", "sim", "notify", "auth", "config", "clock", "error",
        ],
    ),
    (
        "cli",
        &[
            "wire", "service", "api", "startup", "sim", "notify", "auth", "config", "clock", "error",
        ],
    ),
    ("lib", &[]),
    ("layers", &[]),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::LAYERS;

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The top-level module a file belongs to: `src/store/repo/ven.rs` → `store`, `src/clock.rs` → `clock`.
    fn module_of(relative: &str) -> &str {
        let first = relative.split('/').next().unwrap_or(relative);
        first.strip_suffix(".rs").unwrap_or(first)
    }

    /// Every `(line, module)` a file's code refers to through `crate::` (or `sluice::` in the binary):
    /// comments and the file's own `#[cfg(test)] mod tests` are left out.
    fn references(source: &str, root: &str) -> Vec<(usize, String)> {
        let code = source.split("\n#[cfg(test)]\nmod tests").next().unwrap_or(source);
        let mut out = Vec::new();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices(root) {
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let name: String = line[at + root.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
        out
    }

    #[test]
    fn every_module_imports_only_the_layers_below_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        all.sort();
        let known: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
        let mut wrong = Vec::new();
        for path in &all {
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            let module = module_of(&relative);
            let allowed = LAYERS
                .iter()
                .find(|(m, _)| *m == module)
                .map(|(_, a)| *a)
                .unwrap_or_else(|| panic!("src/{relative}: module `{module}` is not in LAYERS"));
            let binary = relative == "main.rs" || relative.starts_with("cli/");
            let root = if binary { "sluice::" } else { "crate::" };
            let source = std::fs::read_to_string(path).unwrap();
            for (line, used) in references(&source, root) {
                if used == module || allowed.contains(&used.as_str()) {
                    continue;
                }
                if !known.contains(used.as_str()) {
                    wrong.push(format!(
                        "src/{relative}:{line}: `{root}{used}` is not a module in LAYERS"
                    ));
                } else {
                    wrong.push(format!("src/{relative}:{line}: `{module}` may not import `{used}`"));
                }
            }
        }
        assert!(wrong.is_empty(), "layering:\n{}", wrong.join("\n"));
    }

    #[test]
    fn a_reference_is_found_in_code_and_not_in_comments() {
        let source = "use crate::store::Db;\n// crate::api is mentioned\nfn f() { my_crate::x(); crate::wire::a(); }\n";
        let found = references(source, "crate::");
        assert_eq!(found, vec![(1, "store".to_owned()), (3, "wire".to_owned())]);
    }

    #[test]
    fn every_module_of_the_crate_has_a_layer() {
        let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
        for line in lib.lines() {
            if let Some(name) = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")) {
                let name = name.trim_end_matches(';');
                assert!(
                    LAYERS.iter().any(|(m, _)| *m == name),
                    "`{name}` has no entry in LAYERS"
                );
            }
        }
    }
}
