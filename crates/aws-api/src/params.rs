//! The Query protocol's request parameters: a form-encoded body (or query string) parsed into a
//! map, with AWS's flattened lists (`Tags.member.1.Key`, `TagKeys.member.1`) walked by index.

use std::collections::BTreeMap;

use iam::{IamError, Tag};

/// The parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes (a body or a query string), leaving out
    /// a presigned request's `X-Amz-*` parameters.
    pub fn parse(form: &[u8]) -> Self {
        let map = form_urlencoded::parse(form)
            .filter(|(key, _)| !key.starts_with("X-Amz-"))
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        Params { map }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A required parameter; `member` is its name in AWS's validation messages (`userName`).
    pub fn required(&self, name: &str, member: &str) -> Result<&str, IamError> {
        self.get(name).ok_or_else(|| IamError::missing(member))
    }

    pub fn int(&self, name: &str, member: &str) -> Result<Option<i64>, IamError> {
        self.get(name)
            .map(|text| text.parse::<i64>().map_err(|_| IamError::validation(Some(text), member, "must be a number")))
            .transpose()
    }

    pub fn boolean(&self, name: &str, member: &str) -> Result<Option<bool>, IamError> {
        self.get(name)
            .map(|text| match text.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(IamError::validation(Some(text), member, "must be a boolean")),
            })
            .transpose()
    }

    /// `<prefix>.member.1`, `<prefix>.member.2`, … in order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..).map_while(|i| self.get(&format!("{prefix}.member.{i}")).map(str::to_string)).collect()
    }

    /// `Tags.member.N.Key` / `.Value`.
    pub fn tags(&self) -> Vec<Tag> {
        (1..)
            .map_while(|i| {
                let key = self.get(&format!("Tags.member.{i}.Key"))?;
                let value = self.get(&format!("Tags.member.{i}.Value")).unwrap_or_default();
                Some(Tag { key: key.to_string(), value: value.to_string() })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_flattened_lists_parse() {
        let params = Params::parse(
            b"Action=CreateUser&UserName=alice&Path=%2Fdev%2F&Tags.member.1.Key=team&Tags.member.1.Value=a+b\
              &Tags.member.2.Key=x&TagKeys.member.1=k1&TagKeys.member.2=k2&MaxItems=5&X-Amz-Signature=abc",
        );
        assert_eq!(params.get("Path"), Some("/dev/"));
        assert_eq!(params.get("X-Amz-Signature"), None);
        assert_eq!(
            params.tags(),
            vec![Tag { key: "team".into(), value: "a b".into() }, Tag { key: "x".into(), value: String::new() }]
        );
        assert_eq!(params.list("TagKeys"), vec!["k1", "k2"]);
        assert_eq!(params.int("MaxItems", "maxItems").unwrap(), Some(5));
        assert_eq!(params.required("RoleName", "roleName").unwrap_err().code(), "ValidationError");
        assert!(params.int("UserName", "userName").is_err());
    }
}
