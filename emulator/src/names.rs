//! Pub/Sub resource names (`projects/P/topics/T`, `projects/P/subscriptions/S`) and their rules.

/// The name of a topic whose topic was deleted, as Pub/Sub reports it on subscriptions.
pub const DELETED_TOPIC: &str = "_deleted-topic_";

/// Which collection a resource name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `projects/P`.
    Project,
    /// `projects/P/topics/T`.
    Topic,
    /// `projects/P/subscriptions/S`.
    Subscription,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Self::Project => "projects",
            Self::Topic => "topics",
            Self::Subscription => "subscriptions",
        }
    }
}

/// A resource name that breaks Pub/Sub's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid [{}] name: (name={name}): {reason}", kind.collection())]
pub struct NameError {
    /// The collection the name was meant for.
    pub kind: Kind,
    /// The offending name as given.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

/// A parsed `projects/P/<collection>/ID` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceName<'a> {
    /// The project id.
    pub project: &'a str,
    /// The topic or subscription id.
    pub id: &'a str,
}

/// Parses `projects/P` and returns `P`.
pub fn parse_project(name: &str) -> Result<&str, NameError> {
    let error = |reason| NameError {
        kind: Kind::Project,
        name: name.to_owned(),
        reason,
    };
    let project = name
        .strip_prefix("projects/")
        .ok_or_else(|| error("expected projects/{project}"))?;
    validate_project_id(project).map_err(error)?;
    Ok(project)
}

/// Parses and validates `projects/P/topics/T`.
pub fn parse_topic(name: &str) -> Result<ResourceName<'_>, NameError> {
    parse(name, Kind::Topic)
}

/// Parses and validates `projects/P/subscriptions/S`.
pub fn parse_subscription(name: &str) -> Result<ResourceName<'_>, NameError> {
    parse(name, Kind::Subscription)
}

/// Builds `projects/P/topics/T`.
pub fn topic_name(project: &str, id: &str) -> String {
    format!("projects/{project}/topics/{id}")
}

/// Builds `projects/P/subscriptions/S`.
pub fn subscription_name(project: &str, id: &str) -> String {
    format!("projects/{project}/subscriptions/{id}")
}

fn parse(name: &str, kind: Kind) -> Result<ResourceName<'_>, NameError> {
    let error = |reason| NameError {
        kind,
        name: name.to_owned(),
        reason,
    };
    let mut parts = name.splitn(4, '/');
    let (Some("projects"), Some(project), Some(collection), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(error(match kind {
            Kind::Topic => "expected projects/{project}/topics/{topic}",
            _ => "expected projects/{project}/subscriptions/{subscription}",
        }));
    };
    if collection != kind.collection() {
        return Err(error(match kind {
            Kind::Topic => "expected projects/{project}/topics/{topic}",
            _ => "expected projects/{project}/subscriptions/{subscription}",
        }));
    }
    validate_project_id(project).map_err(error)?;
    validate_id(id).map_err(error)?;
    Ok(ResourceName { project, id })
}

fn validate_project_id(project: &str) -> Result<(), &'static str> {
    if project.is_empty() {
        return Err("the project id is empty");
    }
    if project.contains('/') {
        return Err("the project id contains '/'");
    }
    Ok(())
}

/// Checks a topic or subscription id: 3-255 characters, a letter first, then
/// `[A-Za-z0-9-_.~+%]`, and no `goog` prefix.
pub fn validate_id(id: &str) -> Result<(), &'static str> {
    if !(3..=255).contains(&id.len()) {
        return Err("the id must be between 3 and 255 characters long");
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("the id must start with a letter");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
    {
        return Err("the id may contain only letters, numbers, and - _ . ~ + %");
    }
    if id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("goog")) {
        return Err("the id must not start with \"goog\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_topic_names_parse_into_project_and_id() {
        let name = parse_topic("projects/my-project/topics/jobs").expect("valid");
        assert_eq!(name.project, "my-project");
        assert_eq!(name.id, "jobs");
        for id in ["abc", "a-b_c.d~e+f%g", "Jobs123", &"x".repeat(255)] {
            assert!(validate_id(id).is_ok(), "{id} should be valid");
        }
    }

    #[test]
    fn ids_breaking_the_rules_are_rejected() {
        for id in [
            "ab",
            &"x".repeat(256),
            "1abc",
            "-abc",
            "abc/def",
            "ab c",
            "abc:publish",
            "googjobs",
            "GOOGjobs",
            "jöbs",
        ] {
            assert!(validate_id(id).is_err(), "{id} should be invalid");
        }
    }

    #[test]
    fn malformed_names_name_the_collection_in_the_error() {
        let error = parse_topic("projects/p/subscriptions/abc").expect_err("wrong collection");
        assert_eq!(error.kind, Kind::Topic);
        assert!(
            error
                .to_string()
                .starts_with("Invalid [topics] name: (name=projects/p/subscriptions/abc)")
        );
        assert!(parse_subscription("projects/p/subscriptions/abc/extra").is_err());
        assert!(parse_subscription("projects//subscriptions/abc").is_err());
        assert!(parse_topic("topics/abc").is_err());
        assert_eq!(parse_project("projects/p"), Ok("p"));
        assert!(parse_project("p").is_err());
        assert!(parse_project("projects/").is_err());
    }
}
