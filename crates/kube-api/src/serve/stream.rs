//! Watch streams: one JSON object per line (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`,
//! `ERROR`), fed from the cluster's watch hub. A watch from a resourceVersion sees only later
//! changes (from the store's history when the hub's window does not reach back that far, 410
//! Expired once compacted); a watch without one (or with "0", or `sendInitialEvents`) first gets the current
//! objects as ADDED. Selectors turn changes into ADDED/DELETED as objects enter or leave them,
//! as kube-apiserver does. Tables and PartialObjectMetadata are served per event.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use chrono::Utc;
use http::StatusCode;
use kube_core::media::Output;
use kube_core::params::ListOptions;
use kube_core::table::{self, IncludeObject};
use kube_core::{Status, meta};
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::cluster::Cluster;
use crate::registry::ResourceDef;
use crate::registry::kinds;
use crate::serve::responses::body_response;
use crate::storage::convert;
use crate::storage::objects::{Objects, Target, WatchStart};
use crate::storage::watch::{HubEvent, HubSignal, WatchEventType, line, line_str};

struct Writer {
    def: Arc<ResourceDef>,
    prefix: String,
    options: ListOptions,
    output: Output,
    include: IncludeObject,
    after: i64,
    headers_sent: bool,
}

impl Writer {
    fn filtered(&self) -> bool {
        !self.options.label_selector.is_empty() || !self.options.field_selector.is_empty()
    }

    fn needs_conversion(&self, object: &Value) -> bool {
        self.def.group == kinds::EVENTS_GROUP
            || object.get("apiVersion").and_then(Value::as_str) != Some(self.def.api_version().as_str())
    }

    fn encode(&mut self, event_type: WatchEventType, object: &Value, cached: Option<&HubEvent>) -> Bytes {
        if (self.output == Output::Json || self.output == Output::Yaml)
            && let Some(event) = cached.filter(|_| !self.needs_conversion(object))
            && let Some(line) = event.json_line(event_type)
        {
            return line;
        }
        let served = convert::to_served(object.clone(), &self.def.group, &self.def.version);
        match self.output {
            Output::Json | Output::Yaml => line(event_type, &served),
            Output::Table(version) => {
                let row = table::row(&self.def.printer, &served, self.include, version.api_version(), Utc::now());
                let columns = if self.headers_sent { vec![] } else { self.def.printer.columns.clone() };
                self.headers_sent = true;
                let value = table::table(
                    &columns,
                    vec![row],
                    json!({"resourceVersion": meta::resource_version(&served)}),
                    version.api_version(),
                );
                line(event_type, &value)
            }
            Output::PartialObjectMetadata(version) => {
                line(event_type, &meta::partial_object_metadata(&served, version.api_version()))
            }
        }
    }

    fn event(&mut self, event: &HubEvent) -> Option<Bytes> {
        if event.revision <= self.after || !event.key.starts_with(&self.prefix) {
            return None;
        }
        let object = event.object()?;
        let event_type = if !self.filtered() {
            if event.deleted {
                WatchEventType::Deleted
            } else if event.existed_before() {
                WatchEventType::Modified
            } else {
                WatchEventType::Added
            }
        } else {
            let selects = |o: &Value| Objects::selects(&self.def, &self.options, o);
            let now = !event.deleted && selects(object);
            let before = if event.deleted { selects(object) } else { event.prev_object().is_some_and(selects) };
            match (now, before) {
                (true, true) => WatchEventType::Modified,
                (true, false) => WatchEventType::Added,
                (false, true) => WatchEventType::Deleted,
                (false, false) => return None,
            }
        };
        Some(self.encode(event_type, object, Some(event)))
    }

    fn bookmark(&self, revision: i64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line_str(
            "BOOKMARK",
            &json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": metadata}),
        )
    }
}

fn content_type(output: Output) -> String {
    match output {
        Output::Yaml => "application/json".into(),
        other => other.content_type(),
    }
}

/// Serve a watch.
pub async fn watch(
    cluster: &Cluster,
    def: Arc<ResourceDef>,
    namespace: &str,
    options: ListOptions,
    output: Output,
    include: IncludeObject,
) -> Result<Response, Status> {
    let watch = match cluster.objects().watch(&Target::collection(&def, namespace), &options).await? {
        WatchStart::Events(watch) => watch,
        WatchStart::Expired(status) => {
            let body = line_str("ERROR", &status.to_json());
            return Ok(body_response(StatusCode::OK, &content_type(output), body));
        }
    };
    let subscription = watch.subscription;
    let timeout = match options.timeout_seconds {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let bookmarks = options.allow_watch_bookmarks;
    let send_initial_end = options.send_initial_events == Some(true) && bookmarks;
    let mut writer =
        Writer { def, prefix: watch.prefix, options, output, include, after: subscription.after, headers_sent: false };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);

    // The current objects first (read after subscribing, so nothing falls in between).
    let mut first = Vec::new();
    if let Some((objects, revision)) = watch.initial {
        for object in objects {
            first.push(writer.encode(WatchEventType::Added, &object, None));
        }
        writer.after = writer.after.max(revision);
        if send_initial_end {
            first.push(writer.bookmark(revision, true));
        }
    }
    let backlog = subscription.backlog;
    let live_after = subscription.live_after;
    let mut live = subscription.live;
    let interval = cluster.bookmark_interval();
    let hub = cluster.objects().watch_hub().clone();
    let metrics = cluster.metrics().clone();
    metrics.watch_opened();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last_sent = writer.after;
        'stream: {
            for chunk in first {
                if tx.send(Ok(chunk)).await.is_err() {
                    break 'stream;
                }
            }
            for event in backlog {
                if let Some(chunk) = writer.event(&event) {
                    last_sent = last_sent.max(event.revision);
                    if tx.send(Ok(chunk)).await.is_err() {
                        break 'stream;
                    }
                }
            }
            writer.after = writer.after.max(live_after);
            loop {
                tokio::select! {
                    signal = live.recv() => match signal {
                        Ok(HubSignal::Event(event)) => {
                            if let Some(chunk) = writer.event(&event) {
                                last_sent = last_sent.max(event.revision);
                                if tx.send(Ok(chunk)).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Ok(HubSignal::Reset) | Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = ticker.tick(), if bookmarks => {
                        let revision = hub.last_revision().max(last_sent);
                        if tx.send(Ok(writer.bookmark(revision, false))).await.is_err() {
                            break;
                        }
                    }
                    _ = &mut deadline => break,
                    _ = tx.closed() => break,
                }
            }
        }
        metrics.watch_closed();
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = body_response(StatusCode::OK, &content_type(output), body);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache, private"));
    Ok(response)
}
