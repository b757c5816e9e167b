//! Writing the Query protocol's XML responses: a small builder over `quick-xml`'s escaping that
//! emits AWS's shapes (`<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata>…`, lists
//! of `<member>`, ISO-8601 dates, URL-encoded policy documents).

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What IAM leaves bare when it URL-encodes a policy document.
const DOCUMENT_BARE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An XML document being written.
#[derive(Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new() -> Self {
        Xml { out: String::with_capacity(512) }
    }

    /// The whole response of `action`: `write` fills its `<ActionResult>` (none when `None`).
    pub fn response(action: &str, namespace: &str, request_id: &str, write: Option<&dyn Fn(&mut Xml)>) -> String {
        let mut xml = Xml::new();
        let response = format!("{action}Response");
        xml.open_ns(&response, namespace);
        if let Some(write) = write {
            let result = format!("{action}Result");
            xml.open(&result);
            write(&mut xml);
            xml.close(&result);
        }
        xml.open("ResponseMetadata");
        xml.elem("RequestId", request_id);
        xml.close("ResponseMetadata");
        xml.close(&response);
        xml.finish()
    }

    pub fn open_ns(&mut self, tag: &str, namespace: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(namespace);
        self.out.push_str("\">");
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag>text</tag>`, escaped.
    pub fn elem(&mut self, tag: &str, text: &str) {
        self.open(tag);
        self.out.push_str(&quick_xml::escape::escape(text));
        self.close(tag);
    }

    /// Escaped text in the current element.
    pub fn text(&mut self, text: &str) {
        self.out.push_str(&quick_xml::escape::escape(text));
    }

    /// `<tag>text</tag>` when there is a text.
    pub fn opt(&mut self, tag: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.elem(tag, text);
        }
    }

    pub fn date(&mut self, tag: &str, time: &DateTime<Utc>) {
        self.elem(tag, &iso8601(time));
    }

    /// A policy document as IAM returns it: URL-encoded JSON.
    pub fn document(&mut self, tag: &str, text: &str) {
        self.elem(tag, &utf8_percent_encode(text, DOCUMENT_BARE).to_string());
    }

    pub fn boolean(&mut self, tag: &str, value: bool) {
        self.elem(tag, if value { "true" } else { "false" });
    }

    /// `<tag><member>…</member>…</tag>`, each member written by `write`.
    pub fn members<T>(&mut self, tag: &str, items: impl IntoIterator<Item = T>, mut write: impl FnMut(&mut Xml, T)) {
        self.open(tag);
        for item in items {
            self.open("member");
            write(self, item);
            self.close("member");
        }
        self.close(tag);
    }

    /// `<IsTruncated>` and, when truncated, `<Marker>`.
    pub fn paging(&mut self, is_truncated: bool, marker: Option<&str>) {
        self.boolean("IsTruncated", is_truncated);
        self.opt("Marker", marker);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `2026-11-28T09:07:34Z`, as AWS writes dates.
pub fn iso8601(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_have_aws_shape_and_escape_text() {
        let body = Xml::response(
            "GetCallerIdentity",
            STS_NAMESPACE,
            "req-1",
            Some(&|xml: &mut Xml| {
                xml.elem("UserId", "AIDA<&>");
                xml.members("Names", ["a", "b"], |xml, name| xml.elem("Name", name));
            }),
        );
        assert_eq!(
            body,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
             <UserId>AIDA&lt;&amp;&gt;</UserId><Names><member><Name>a</Name></member><member><Name>b</Name></member>\
             </Names></GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
        let empty = Xml::response("DeleteUser", IAM_NAMESPACE, "r", None);
        assert!(
            empty.starts_with(
                "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata>"
            )
        );
        let mut xml = Xml::new();
        xml.document("D", r#"{"Version": "2012-10-17"}"#);
        assert_eq!(xml.finish(), "<D>%7B%22Version%22%3A%20%222012-10-17%22%7D</D>");
    }
}
