//! `/metrics` in Prometheus' text format: requests by verb, group, version, resource,
//! subresource, scope and code with their latencies (kube-apiserver's `apiserver_request_*`),
//! authorization decisions, store latencies (`etcd_request_duration_seconds`) and open watches.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: String,
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: String,
    #[prometheus(flatten)]
    kind: StoreKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreKind {
    r#type: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new([0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0])
}

/// One cluster's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<CodeLabels, Counter>,
    durations: HistogramFamily<RequestLabels>,
    decisions: Family<DecisionLabels, Counter>,
    store: HistogramFamily<StoreLabels>,
    watchers: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<CodeLabels, Counter>::default();
        let durations = HistogramFamily::<RequestLabels>::new_with_constructor(latency_histogram);
        let decisions = Family::<DecisionLabels, Counter>::default();
        let store = HistogramFamily::<StoreLabels>::new_with_constructor(latency_histogram);
        let watchers = Gauge::default();
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.",
            durations.clone(),
        );
        registry.register(
            "apiserver_authorization_decisions",
            "Total number of terminal decisions made by an authorizer split by authorizer type, name, and decision.",
            decisions.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "Store request latency in seconds for each operation and object type.",
            store.clone(),
        );
        registry.register("apiserver_registered_watchers", "Number of currently open watches.", watchers.clone());
        Metrics { registry: Mutex::new(registry), requests, durations, decisions, store, watchers }
    }

    /// Record one finished request.
    pub fn observe_request(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        self.durations.get_or_create(&labels).observe(elapsed.as_secs_f64());
        let RequestLabels { verb, group, version, resource, subresource, scope, component } = labels;
        let code = code.to_string();
        self.requests
            .get_or_create(&CodeLabels { verb, group, version, resource, subresource, scope, component, code })
            .inc();
    }

    pub fn observe_decision(&self, decision: &str, name: &str) {
        self.decisions.get_or_create(&DecisionLabels { decision: decision.into(), name: name.into() }).inc();
    }

    pub fn observe_store(&self, operation: &str, elapsed: Duration) {
        let labels = StoreLabels { operation: operation.into(), kind: StoreKind { r#type: "objects".into() } };
        self.store.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn watch_opened(&self) {
        self.watchers.inc();
    }

    pub fn watch_closed(&self) {
        self.watchers.dec();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_store_latency() {
        let metrics = Metrics::new();
        let labels = RequestLabels {
            verb: "LIST".into(),
            group: "".into(),
            version: "v1".into(),
            resource: "pods".into(),
            subresource: "".into(),
            scope: "namespace".into(),
            component: "apiserver".into(),
        };
        metrics.observe_request(labels, 200, Duration::from_millis(3));
        metrics.observe_store("get", Duration::from_micros(50));
        metrics.observe_decision("allowed", "system:masters");
        let text = metrics.render();
        assert!(text.contains("apiserver_request_total{verb=\"LIST\""), "{text}");
        assert!(text.contains("code=\"200\"} 1"), "{text}");
        assert!(text.contains("apiserver_request_duration_seconds_bucket"));
        assert!(text.contains("etcd_request_duration_seconds_count{operation=\"get\",type=\"objects\"} 1"), "{text}");
        assert!(
            text.contains("apiserver_authorization_decisions_total{decision=\"allowed\",name=\"system:masters\"} 1")
        );
    }
}
