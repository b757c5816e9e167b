//! Container logs: the writer side (one CRI log file per container instance, appended by the
//! container's stdout and stderr pumps) and the reader side (`pods/log` with `follow`,
//! `tailLines`, `timestamps`, `sinceSeconds`/`sinceTime` and `limitBytes`, as an async byte
//! stream). A following reader ends when the instance's writer is gone: the container
//! stopped, or its pod was deleted. Also the `PodLogOptions` query parameters and their
//! validation, as kube-apiserver does them.
//!
//! Writes go through a `std::fs::File` under a mutex: one `write` of a few records into the
//! page cache, cheaper than a hop to tokio's blocking pool.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use go_format::quote;
use kube_core::status::FieldError;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::cri_log::{self, LogStream as OutputStream, LogTag};
use crate::error::KubeletError;

/// How `pods/log` reads a container's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines until the container stops or the pod is deleted.
    pub follow: bool,
    /// Read the previous instance's log (after a restart).
    pub previous: bool,
    /// Prefix each line with its RFC3339Nano timestamp.
    pub timestamps: bool,
    /// Start this many lines before the end.
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this point.
    pub since: Option<LogSince>,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
}

/// `sinceSeconds` or `sinceTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSince {
    Seconds(u64),
    Time(DateTime<Utc>),
}

/// The query of `GET …/pods/{name}/log`, parsed and validated as kube-apiserver does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodLogQuery {
    pub container: Option<String>,
    pub options: LogOptions,
}

impl PodLogQuery {
    /// Parses `query` (without `?`) for pod `pod`. Unknown parameters are ignored; a value that
    /// does not parse is a BadRequest; out-of-range values are `PodLogOptions "pod" is invalid`.
    pub fn parse(pod: &str, query: &str) -> Result<Self, KubeletError> {
        let mut parsed = Self::default();
        let (mut tail, mut limit, mut since_seconds, mut since_time) = (None, None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "container" => parsed.container = Some(value.into_owned()).filter(|c| !c.is_empty()),
                "follow" => parsed.options.follow = parse_bool(&value)?,
                "previous" => parsed.options.previous = parse_bool(&value)?,
                "timestamps" => parsed.options.timestamps = parse_bool(&value)?,
                "tailLines" => tail = Some(parse_int(&value)?),
                "limitBytes" => limit = Some(parse_int(&value)?),
                "sinceSeconds" => since_seconds = Some(parse_int(&value)?),
                "sinceTime" => since_time = Some(parse_time(&value)?),
                _ => {}
            }
        }
        let mut errors = Vec::new();
        let invalid = |field, value: i64, rule| FieldError::invalid_raw(field, value.to_string(), rule);
        if let Some(lines) = tail.filter(|l| *l < 0) {
            errors.push(invalid("tailLines", lines, "must be greater than or equal to 0"));
        }
        if let Some(bytes) = limit.filter(|b| *b < 1) {
            errors.push(invalid("limitBytes", bytes, "must be greater than 0"));
        }
        match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
            }
            (Some(seconds), None) if seconds < 1 => {
                errors.push(invalid("sinceSeconds", seconds, "must be greater than 0"))
            }
            _ => {}
        }
        if !errors.is_empty() {
            return Err(KubeletError::InvalidOptions { kind: "PodLogOptions", name: pod.to_string(), errors });
        }
        parsed.options.tail_lines = tail.map(|l| l.unsigned_abs());
        parsed.options.limit_bytes = limit.map(|b| b.unsigned_abs());
        parsed.options.since =
            since_seconds.map(|s| LogSince::Seconds(s.unsigned_abs())).or(since_time.map(LogSince::Time));
        Ok(parsed)
    }
}

/// Go's `strconv.ParseBool`, which kube-apiserver's query conversion uses.
pub(crate) fn parse_bool(value: &str) -> Result<bool, KubeletError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(KubeletError::BadRequest(format!("strconv.ParseBool: parsing {}: invalid syntax", quote(other)))),
    }
}

fn parse_int(value: &str) -> Result<i64, KubeletError> {
    value
        .parse()
        .map_err(|_| KubeletError::BadRequest(format!("strconv.ParseInt: parsing {}: invalid syntax", quote(value))))
}

fn parse_time(value: &str) -> Result<DateTime<Utc>, KubeletError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        let quoted = quote(value);
        KubeletError::BadRequest(format!(
            "parsing time {quoted} as \"2006-01-02T15:04:05Z07:00\": cannot parse {quoted} as \"2006\""
        ))
    })
}

/// The log file of one container instance, shared by its output pumps. Readers following the
/// log are woken on every append and end once the last `LogFile` handle is dropped.
#[derive(Debug)]
pub(crate) struct LogFile {
    file: Mutex<File>,
    path: PathBuf,
    appended: watch::Sender<u64>,
}

impl LogFile {
    /// Creates (or appends to, after a server restart) the log at `path`.
    pub(crate) fn create(path: &Path) -> Result<(Self, watch::Receiver<u64>), KubeletError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| KubeletError::io("creating the container log", path, e))?;
        let (appended, updates) = watch::channel(0);
        Ok((Self { file: Mutex::new(file), path: path.to_path_buf(), appended }, updates))
    }

    /// Appends records (already encoded) in one write and wakes the followers.
    pub(crate) fn append(&self, records: &[u8]) {
        if records.is_empty() {
            return;
        }
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(records),
            Err(poisoned) => poisoned.into_inner().write_all(records),
        };
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), %err, "cannot append to a container log");
        }
        self.appended.send_modify(|n| *n += 1);
    }

    /// Appends one full record of `stream` stamped now.
    pub(crate) fn line(&self, stream: OutputStream, content: &str) {
        let mut out = Vec::with_capacity(content.len() + 48);
        cri_log::encode_record(&mut out, Utc::now(), stream, LogTag::Full, content.as_bytes());
        self.append(&out);
    }
}

/// Copies one output stream of a container process into its log, record by record, until EOF.
pub(crate) async fn pump_output(mut source: impl tokio::io::AsyncRead + Unpin, stream: OutputStream, log: &LogFile) {
    let mut splitter = cri_log::LineSplitter::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut records = Vec::new();
    loop {
        let n = match source.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Utc::now();
        splitter.push(&buf[..n], |tag, content| cri_log::encode_record(&mut records, now, stream, tag, content));
        log.append(&records);
        records.clear();
    }
    let now = Utc::now();
    splitter.finish(|tag, content| cri_log::encode_record(&mut records, now, stream, tag, content));
    log.append(&records);
}

/// What `pods/log` streams: the rendered log as chunks of bytes, ready to send chunked.
pub struct LogStream {
    inner: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
}

impl Stream for LogStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl LogStream {
    /// Opens the log at `path` for reading with `options`; `updates` is the instance's append
    /// signal, followed only when `options.follow` is set.
    pub(crate) fn open(
        path: &Path,
        mut updates: watch::Receiver<u64>,
        options: &LogOptions,
    ) -> Result<Self, KubeletError> {
        // Mark the appends so far as seen before reading, so none after this point is missed.
        updates.borrow_and_update();
        let file = File::open(path).map_err(|e| KubeletError::io("opening the container log", path, e))?;
        let start = match options.tail_lines {
            Some(lines) => {
                tail_offset(&file, lines).map_err(|e| KubeletError::io("reading the container log", path, e))?
            }
            None => 0,
        };
        let since = options.since.map(|since| match since {
            // Further back than time goes means everything.
            LogSince::Seconds(seconds) => i64::try_from(seconds)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|back| Utc::now().checked_sub_signed(back))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            LogSince::Time(time) => time,
        });
        let reader = Reader {
            file: tokio::fs::File::from_std(file),
            start,
            pending: Vec::new(),
            updates: options.follow.then_some(updates),
            since,
            timestamps: options.timestamps,
            remaining: options.limit_bytes,
            done: false,
        };
        let inner = futures::stream::unfold(reader, |mut reader| async move {
            let chunk = reader.next_chunk().await?;
            Some((chunk, reader))
        });
        Ok(Self { inner: Box::pin(inner) })
    }
}

struct Reader {
    file: tokio::fs::File,
    start: u64,
    /// Bytes read past the last complete record.
    pending: Vec<u8>,
    /// The append signal while following a live instance.
    updates: Option<watch::Receiver<u64>>,
    since: Option<DateTime<Utc>>,
    timestamps: bool,
    /// What `limitBytes` still allows.
    remaining: Option<u64>,
    done: bool,
}

impl Reader {
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        use tokio::io::AsyncSeekExt;
        if self.start > 0 {
            if let Err(err) = self.file.seek(io::SeekFrom::Start(self.start)).await {
                self.done = true;
                return Some(Err(err));
            }
            self.start = 0;
        }
        let mut buf = vec![0u8; 64 * 1024];
        while !self.done {
            let n = match self.file.read(&mut buf).await {
                Ok(n) => n,
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            };
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n]);
                let out = self.render();
                if !out.is_empty() {
                    return Some(Ok(Bytes::from(out)));
                }
                continue;
            }
            // At the end of what is written: wait for more while the instance lives, then read
            // whatever its last appends left before ending.
            match &mut self.updates {
                Some(updates) => {
                    if updates.changed().await.is_err() {
                        self.updates = None;
                    }
                }
                None => self.done = true,
            }
        }
        None
    }

    /// Renders the complete records in `pending`, honouring `since` and `limitBytes`.
    fn render(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pending.len());
        let mut consumed = 0;
        while let Some(newline) = self.pending[consumed..].iter().position(|b| *b == b'\n') {
            let line = &self.pending[consumed..consumed + newline];
            consumed += newline + 1;
            let Some(record) = cri_log::parse_record(line) else { continue };
            if self.since.is_some_and(|since| record.time < since) {
                continue;
            }
            cri_log::render_record(&mut out, &record, self.timestamps);
            if let Some(remaining) = self.remaining {
                let allowed = usize::try_from(remaining).unwrap_or(usize::MAX);
                if out.len() >= allowed {
                    out.truncate(allowed);
                    self.done = true;
                    break;
                }
            }
        }
        self.pending.drain(..consumed);
        if let Some(remaining) = &mut self.remaining {
            *remaining -= out.len() as u64;
        }
        out
    }
}

/// The offset of the record `lines` records before the end of `file` (its start if shorter).
fn tail_offset(file: &File, lines: u64) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if lines == 0 {
        return Ok(len);
    }
    let mut seen = 0;
    let mut end = len;
    let mut buf = vec![0u8; 16 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        for (i, byte) in chunk.iter().enumerate().rev() {
            let offset = start + i as u64;
            // The newline ending the file's last record does not start a record.
            if *byte == b'\n' && offset + 1 != len {
                seen += 1;
                if seen == lines {
                    return Ok(offset + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures::StreamExt;

    fn query(q: &str) -> Result<PodLogQuery, KubeletError> {
        PodLogQuery::parse("nginx", q)
    }

    #[test]
    fn parses_what_kubectl_sends() {
        let parsed = query("container=side&tailLines=1&timestamps=true").unwrap();
        assert_eq!(parsed.container.as_deref(), Some("side"));
        assert_eq!(parsed.options, LogOptions { tail_lines: Some(1), timestamps: true, ..Default::default() });
        let parsed = query("follow=true&previous=1&limitBytes=10&sinceSeconds=5&pretty=true").unwrap();
        assert_eq!(
            parsed.options,
            LogOptions {
                follow: true,
                previous: true,
                limit_bytes: Some(10),
                since: Some(LogSince::Seconds(5)),
                ..Default::default()
            }
        );
        let parsed = query("sinceTime=2024-01-01T00%3A00%3A00Z").unwrap();
        assert_eq!(parsed.options.since, Some(LogSince::Time(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap())));
        assert_eq!(query("").unwrap(), PodLogQuery::default());
    }

    #[test]
    fn refuses_what_kube_apiserver_refuses() {
        let err = query("tailLines=-1").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"PodLogOptions "nginx" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"#
        );
        assert_eq!(err.http_status(), 422);
        let err = query("limitBytes=0&sinceSeconds=0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "PodLogOptions \"nginx\" is invalid: [limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: \
             Invalid value: 0: must be greater than 0]"
        );
        let err = query("sinceSeconds=1&sinceTime=2024-01-01T00:00:00Z").unwrap_err();
        assert!(
            err.to_string().ends_with(": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
        );
        let err = query("follow=maybe").unwrap_err();
        assert_eq!(
            (err.to_string().as_str(), err.http_status()),
            (r#"strconv.ParseBool: parsing "maybe": invalid syntax"#, 400)
        );
        assert_eq!(query("tailLines=x").unwrap_err().http_status(), 400);
        assert_eq!(query("sinceTime=yesterday").unwrap_err().http_status(), 400);
    }

    fn write_log(dir: &Path, records: &[(i64, &str, &str, &str)]) -> PathBuf {
        let path = dir.join("0.log");
        let mut out = Vec::new();
        for (second, stream, tag, content) in records {
            let time = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(*second);
            let stream = if *stream == "stdout" { OutputStream::Stdout } else { OutputStream::Stderr };
            let tag = if *tag == "F" { LogTag::Full } else { LogTag::Partial };
            cri_log::encode_record(&mut out, time, stream, tag, content.as_bytes());
        }
        std::fs::write(&path, out).unwrap();
        path
    }

    async fn read_all(path: &Path, options: LogOptions) -> String {
        let (_tx, rx) = watch::channel(0);
        let stream = LogStream::open(path, rx, &options).unwrap();
        let chunks: Vec<_> = stream.collect().await;
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn reads_with_every_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(
            dir.path(),
            &[
                (0, "stdout", "F", "one"),
                (1, "stderr", "F", "two"),
                (2, "stdout", "P", "thr"),
                (2, "stdout", "F", "ee"),
                (3, "stdout", "F", "four"),
            ],
        );
        assert_eq!(read_all(&path, LogOptions::default()).await, "one\ntwo\nthree\nfour\n");
        let tail = |n| LogOptions { tail_lines: Some(n), ..Default::default() };
        assert_eq!(read_all(&path, tail(1)).await, "four\n");
        assert_eq!(read_all(&path, tail(3)).await, "three\nfour\n");
        assert_eq!(read_all(&path, tail(0)).await, "");
        assert_eq!(read_all(&path, tail(100)).await, "one\ntwo\nthree\nfour\n");
        let timestamps = LogOptions { timestamps: true, tail_lines: Some(1), ..Default::default() };
        assert_eq!(read_all(&path, timestamps).await, "2024-01-01T00:00:03.000000000Z four\n");
        let since = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 2).unwrap();
        let since = LogOptions { since: Some(LogSince::Time(since)), ..Default::default() };
        assert_eq!(read_all(&path, since).await, "three\nfour\n");
        let limit = LogOptions { limit_bytes: Some(6), ..Default::default() };
        assert_eq!(read_all(&path, limit).await, "one\ntw");
        // sinceSeconds counts back from now: everything in 2024 is older than a second ago.
        let recent = LogOptions { since: Some(LogSince::Seconds(1)), ..Default::default() };
        assert_eq!(read_all(&path, recent).await, "");
        let forever = LogOptions { since: Some(LogSince::Seconds(u64::MAX)), ..Default::default() };
        assert_eq!(read_all(&path, forever).await, "one\ntwo\nthree\nfour\n");
        let huge = PodLogQuery::parse("p", "sinceSeconds=9223372036854775807").unwrap().options;
        assert_eq!(read_all(&path, huge).await, "one\ntwo\nthree\nfour\n");
    }

    #[tokio::test]
    async fn skips_lines_that_are_not_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "garbage\n2024-01-01T00:00:00Z stdout F ok\n").unwrap();
        assert_eq!(read_all(&path, LogOptions::default()).await, "ok\n");
    }

    #[tokio::test]
    async fn follows_until_the_writer_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let (log, updates) = LogFile::create(&path).unwrap();
        log.line(OutputStream::Stdout, "before");
        let options = LogOptions { follow: true, ..Default::default() };
        let mut stream = LogStream::open(&path, updates, &options).unwrap();
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"before\n");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            log.line(OutputStream::Stdout, "after");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            log.line(OutputStream::Stderr, "last");
            drop(log);
        });
        let mut rest = Vec::new();
        while let Some(chunk) = stream.next().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(rest, b"after\nlast\n");
        writer.await.unwrap();
    }

    #[test]
    fn tail_offsets_count_records_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "a\nbb\nccc\n").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(tail_offset(&file, 1).unwrap(), 5);
        assert_eq!(tail_offset(&file, 2).unwrap(), 2);
        assert_eq!(tail_offset(&file, 3).unwrap(), 0);
        assert_eq!(tail_offset(&file, 9).unwrap(), 0);
        assert_eq!(tail_offset(&file, 0).unwrap(), 9);
        // Across read blocks.
        let long: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &long).unwrap();
        let file = File::open(&path).unwrap();
        let offset = tail_offset(&file, 2).unwrap() as usize;
        assert_eq!(&long[offset..], "line 4998\nline 4999\n");
    }
}
