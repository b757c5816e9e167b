//! The CRI container log format, both ways: what containerd writes for a container's output
//! (`2024-01-01T00:00:00.000000000Z stdout F message`, one record per line, lines over 16 KiB
//! and a last line without newline written as `P`artial records), and how the kubelet renders
//! those records for `pods/log` (content, `F` records end in a newline, an optional
//! RFC3339Nano timestamp prefix). Pure: no I/O, no clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// containerd's default `max_container_log_line_size`: longer lines are split into partial records.
pub const MAX_RECORD_CONTENT: usize = 16 * 1024;

/// Which of the container's output streams a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// `F`: the record ends a line; `P`: the line continues in the next record of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTag {
    Full,
    Partial,
}

/// One parsed record: a line of the log file without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: DateTime<Utc>,
    pub stream: LogStream,
    pub tag: LogTag,
    pub content: &'a [u8],
}

/// The kubelet's `RFC3339NanoFixed`: always nine fractional digits, `Z` for UTC.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Appends one record, newline included, to `out`.
pub fn encode_record(out: &mut Vec<u8>, time: DateTime<Utc>, stream: LogStream, tag: LogTag, content: &[u8]) {
    out.extend_from_slice(format_timestamp(time).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if tag == LogTag::Full { b" F " } else { b" P " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Parses one line of a CRI log file (without its newline). `None` for a line that is not a
/// CRI record; the kubelet skips those too.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let time = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
    let stream = match fields.next()? {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let tag = match fields.next()? {
        b"F" => LogTag::Full,
        b"P" => LogTag::Partial,
        _ => return None,
    };
    // A record with empty content is written as "<time> <stream> F " but a trimmed file may
    // have lost the last space; both mean an empty line.
    let content = fields.next().unwrap_or_default();
    Some(Record { time, stream, tag, content })
}

/// Appends what `pods/log` shows for a record: the optional timestamp, the content, and a
/// newline for a full record.
pub fn render_record(out: &mut Vec<u8>, record: &Record<'_>, timestamps: bool) {
    if timestamps {
        out.extend_from_slice(format_timestamp(record.time).as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(record.content);
    if record.tag == LogTag::Full {
        out.push(b'\n');
    }
}

/// Cuts one output stream into records the way containerd does: each complete line is a full
/// record, a line longer than [`MAX_RECORD_CONTENT`] is split into partial records, and what is
/// left without a newline when the stream ends is a partial record.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes read from the stream; calls `emit` for every record they complete.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(LogTag, &[u8])) {
        while !data.is_empty() {
            let room = MAX_RECORD_CONTENT - self.pending.len();
            // A newline right after `room` bytes still ends a record of the maximum size.
            match data.iter().take(room + 1).position(|b| *b == b'\n') {
                Some(newline) => {
                    let line = &data[..newline];
                    if self.pending.is_empty() {
                        emit(LogTag::Full, line);
                    } else {
                        self.pending.extend_from_slice(line);
                        emit(LogTag::Full, &self.pending);
                        self.pending.clear();
                    }
                    data = &data[newline + 1..];
                }
                None if data.len() > room => {
                    self.pending.extend_from_slice(&data[..room]);
                    emit(LogTag::Partial, &self.pending);
                    self.pending.clear();
                    data = &data[room..];
                }
                None => {
                    self.pending.extend_from_slice(data);
                    data = &[];
                }
            }
        }
    }

    /// The stream ended: what is left becomes a partial record.
    pub fn finish(&mut self, mut emit: impl FnMut(LogTag, &[u8])) {
        if !self.pending.is_empty() {
            emit(LogTag::Partial, &self.pending);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn encodes_the_format_the_task_and_the_kubelet_use() {
        let mut out = Vec::new();
        encode_record(&mut out, t0(), LogStream::Stdout, LogTag::Full, b"message");
        assert_eq!(out, b"2024-01-01T00:00:00.000000000Z stdout F message\n");
        out.clear();
        let t = t0() + chrono::Duration::nanoseconds(123_456_789);
        encode_record(&mut out, t, LogStream::Stderr, LogTag::Partial, b"half");
        assert_eq!(out, b"2024-01-01T00:00:00.123456789Z stderr P half\n");
    }

    #[test]
    fn parses_what_it_encodes_and_what_containerd_writes() {
        let line = b"2024-01-01T00:00:00.000000000Z stdout F hello world";
        let record = parse_record(line).unwrap();
        assert_eq!(
            record,
            Record { time: t0(), stream: LogStream::Stdout, tag: LogTag::Full, content: b"hello world" }
        );
        // containerd trims trailing zeros of the fraction (RFC3339Nano) and may use offsets.
        let record = parse_record(b"2024-01-01T02:00:00.5+02:00 stderr P x").unwrap();
        assert_eq!(record.time, t0() + chrono::Duration::milliseconds(500));
        assert_eq!((record.stream, record.tag, record.content), (LogStream::Stderr, LogTag::Partial, &b"x"[..]));
        assert_eq!(parse_record(b"2024-01-01T00:00:00Z stdout F ").unwrap().content, b"");
        assert_eq!(parse_record(b"2024-01-01T00:00:00Z stdout F").unwrap().content, b"");
        assert!(parse_record(b"not a record").is_none());
        assert!(parse_record(b"2024-01-01T00:00:00Z stdin F x").is_none());
        assert!(parse_record(b"2024-01-01T00:00:00Z stdout X x").is_none());
    }

    #[test]
    fn renders_like_the_kubelet() {
        let full = parse_record(b"2024-01-01T00:00:00.5Z stdout F line").unwrap();
        let partial = parse_record(b"2024-01-01T00:00:00Z stdout P par").unwrap();
        let mut out = Vec::new();
        render_record(&mut out, &full, false);
        render_record(&mut out, &partial, false);
        assert_eq!(out, b"line\npar");
        out.clear();
        render_record(&mut out, &full, true);
        assert_eq!(out, b"2024-01-01T00:00:00.500000000Z line\n");
    }

    fn split(chunks: &[&[u8]]) -> Vec<(LogTag, Vec<u8>)> {
        let mut splitter = LineSplitter::default();
        let mut records = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, |tag, content| records.push((tag, content.to_vec())));
        }
        splitter.finish(|tag, content| records.push((tag, content.to_vec())));
        records
    }

    #[test]
    fn splits_lines_across_reads() {
        assert_eq!(
            split(&[b"one\ntw", b"o\n", b"\nthree"]),
            vec![
                (LogTag::Full, b"one".to_vec()),
                (LogTag::Full, b"two".to_vec()),
                (LogTag::Full, b"".to_vec()),
                (LogTag::Partial, b"three".to_vec()),
            ]
        );
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn splits_long_lines_into_partial_records() {
        let long = vec![b'a'; MAX_RECORD_CONTENT * 2 + 10];
        let mut input = long.clone();
        input.push(b'\n');
        let records = split(&[&input[..100], &input[100..]]);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0], (LogTag::Partial, vec![b'a'; MAX_RECORD_CONTENT]));
        assert_eq!(records[1], (LogTag::Partial, vec![b'a'; MAX_RECORD_CONTENT]));
        assert_eq!(records[2], (LogTag::Full, vec![b'a'; 10]));
        // A line of exactly the maximum is one full record.
        let mut exact = vec![b'b'; MAX_RECORD_CONTENT];
        exact.push(b'\n');
        assert_eq!(split(&[&exact]), vec![(LogTag::Full, vec![b'b'; MAX_RECORD_CONTENT])]);
    }
}
