//! Scopes: what a token may do. `read` and `write` are umbrellas for every
//! `*:read` / `*:write` scope; write does not imply read.

/// Every scope a token may carry.
pub const KNOWN_SCOPES: &[&str] = &[
    "read",
    "write",
    "conversations:read",
    "conversations:write",
    "messages:read",
    "messages:write",
    "customers:read",
    "customers:write",
    "channels:read",
    "channels:write",
    "blacklists:read",
    "blacklists:write",
    "clients:read",
    "clients:write",
    "members:read",
    "members:write",
];

pub fn is_known(scope: &str) -> bool {
    KNOWN_SCOPES.contains(&scope)
}

/// Whether holding `held` grants `needed` (itself, or its umbrella).
pub fn grants(held: &[String], needed: &str) -> bool {
    let umbrella = needed.rsplit(':').next().unwrap_or(needed);
    held.iter().any(|s| s == needed || s == umbrella)
}

/// Splits a space-separated scope parameter; `Err` names the first unknown scope.
/// Duplicates are dropped, order kept.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in text.split(' ').filter(|s| !s.is_empty()) {
        if !is_known(s) {
            return Err(s.to_string());
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    Ok(scopes)
}

/// The first of `requested` that `allowed` does not cover, if any.
pub fn first_not_covered<'a>(requested: &'a [String], allowed: &[String]) -> Option<&'a str> {
    requested
        .iter()
        .find(|s| !grants(allowed, s))
        .map(String::as_str)
}

/// The scope in plain words, for the consent page.
pub fn describe(scope: &str) -> &'static str {
    match scope {
        "read" => "See everything: conversations, messages, customers, channels, blacklists, applications and members",
        "write" => "Change everything: conversations, messages, customers, channels, blacklists, applications and members",
        "conversations:read" => "See your conversations",
        "conversations:write" => "Start conversations and change them",
        "messages:read" => "Read messages",
        "messages:write" => "Send, edit and delete messages",
        "customers:read" => "See your customers",
        "customers:write" => "Add and change customers",
        "channels:read" => "See your channels",
        "channels:write" => "Add, change and remove channels",
        "blacklists:read" => "See blocked customers",
        "blacklists:write" => "Block and unblock customers",
        "clients:read" => "See the applications connected to the workspace",
        "clients:write" => "Register and remove applications",
        "members:read" => "See the workspace's members and their roles",
        "members:write" => "Change members' roles and remove members",
        _ => "Unknown permission",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn umbrellas_cover_their_kind_only() {
        assert!(grants(&v(&["read"]), "conversations:read"));
        assert!(!grants(&v(&["read"]), "conversations:write"));
        assert!(!grants(&v(&["conversations:read"]), "read"));
        assert_eq!(
            first_not_covered(&v(&["conversations:read", "write"]), &v(&["read"])),
            Some("write")
        );
        assert_eq!(parse("read  read write"), Ok(v(&["read", "write"])));
        assert_eq!(parse("read admin"), Err("admin".to_string()));
        assert!(KNOWN_SCOPES
            .iter()
            .all(|s| describe(s) != "Unknown permission"));
    }
}
