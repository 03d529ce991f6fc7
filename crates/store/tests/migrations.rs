//! Both databases' migrations move in step: the same versions under the same names,
//! so a version number means the same change on either backend (a change one of them
//! does not need gets a migration that does nothing there).

use std::collections::BTreeSet;
use std::path::Path;

fn migration_names(dialect: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("a directory entry");
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn both_databases_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    let postgres = migration_names("postgres");
    assert!(sqlite.len() >= 10, "migrations found: {sqlite:?}");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must list the same files"
    );
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap_or((name, ""));
        assert!(
            version.len() == 4 && version.chars().all(|c| c.is_ascii_digit()),
            "{name}: a migration's name starts with its four-digit version"
        );
        assert!(rest.ends_with(".sql"), "{name}: migrations are .sql files");
    }
}
