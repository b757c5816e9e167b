//! RBAC decision cost as bindings that do not concern the requester grow from 100 to 100,000:
//! the indexed authorizer against the linear reference (Kubernetes' `VisitRulesFor`) and against
//! Cedar evaluating the same grants, side by side. Also index build time, incremental update time,
//! 1, 2 and 4 threads deciding at once, and the index's memory (printed once per size).
//!
//! `cargo bench -p bench --bench rbac`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bench::rbac_workload::Workload;
use cedar_policy::{
    Authorizer as CedarAuthorizer, Context, Entities, EntityUid, PolicySet, Request, RestrictedExpression,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rbac::linear::LinearAuthorizer;
use rbac::{Attributes, Authorizer};

/// Counts live heap bytes, to report what the index costs in memory.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// The only unsafe in the workspace: a global allocator must be `unsafe impl`. It forwards to the
// system allocator and counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

fn build(w: &Workload) -> Authorizer {
    Authorizer::from_objects(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings)
}

fn cedar_request(attrs: &Attributes) -> Request {
    let r = attrs.resource.as_ref().expect("resource request");
    let s = |v: &str| RestrictedExpression::new_string(v.to_string());
    let context = Context::from_pairs([
        ("namespace".to_string(), s(&r.namespace)),
        ("apiGroup".to_string(), s(&r.api_group)),
        ("resource".to_string(), s(&r.resource)),
    ])
    .unwrap();
    Request::new(
        EntityUid::from_str(&format!("User::{:?}", attrs.user.name)).unwrap(),
        EntityUid::from_str(&format!("Action::{:?}", attrs.verb)).unwrap(),
        EntityUid::from_str(&format!("Pod::{:?}", r.name)).unwrap(),
        context,
        None,
    )
    .unwrap()
}

/// Cedar's side of one size, built on first use (parsing 100,000 policies takes seconds).
struct Cedar {
    policies: PolicySet,
    allow: Request,
    deny: Request,
}

impl Cedar {
    fn new(w: &Workload) -> Self {
        let started = Instant::now();
        let before = LIVE.load(Ordering::Relaxed);
        let policies = PolicySet::from_str(&w.cedar_policies()).unwrap();
        eprintln!(
            "memory n={}: cedar policy set {:.1} MiB, parsed in {:.0} ms",
            w.n,
            LIVE.load(Ordering::Relaxed).saturating_sub(before) as f64 / 1048576.0,
            started.elapsed().as_secs_f64() * 1e3
        );
        let cedar =
            Cedar { policies, allow: cedar_request(&w.allowed_request()), deny: cedar_request(&w.denied_request()) };
        assert_eq!(cedar.decide(&cedar.allow), cedar_policy::Decision::Allow);
        assert_eq!(cedar.decide(&cedar.deny), cedar_policy::Decision::Deny);
        cedar
    }

    fn decide(&self, request: &Request) -> cedar_policy::Decision {
        CedarAuthorizer::new().is_authorized(request, &self.policies, &Entities::empty()).decision()
    }
}

fn decisions(c: &mut Criterion) {
    for n in SIZES {
        let w = Workload::generate(n);
        let before = LIVE.load(Ordering::Relaxed);
        let indexed = build(&w);
        let index_bytes = LIVE.load(Ordering::Relaxed) - before;
        let before = LIVE.load(Ordering::Relaxed);
        let linear = LinearAuthorizer::new(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings);
        let linear_bytes = LIVE.load(Ordering::Relaxed) - before;
        eprintln!(
            "memory n={n}: indexed {:.1} MiB, linear {:.1} MiB",
            index_bytes as f64 / 1048576.0,
            linear_bytes as f64 / 1048576.0,
        );
        let (allow, deny) = (w.allowed_request(), w.denied_request());
        assert!(indexed.authorize(&allow).is_allowed() && !indexed.authorize(&deny).is_allowed());
        assert!(linear.authorize(&allow).0 && !linear.authorize(&deny).0);
        let cedar: OnceLock<Cedar> = OnceLock::new();

        let mut group = c.benchmark_group(format!("rbac_decision/{n}"));
        group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        group.bench_function("indexed_allow", |b| b.iter(|| indexed.authorize(black_box(&allow))));
        group.bench_function("indexed_deny", |b| b.iter(|| indexed.authorize(black_box(&deny))));
        group.bench_function("linear_allow", |b| b.iter(|| linear.authorize(black_box(&allow))));
        group.bench_function("linear_deny", |b| b.iter(|| linear.authorize(black_box(&deny))));
        if n >= 10_000 {
            // Cedar costs milliseconds per decision here: a few samples are enough.
            group.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(1));
        }
        group.bench_function("cedar_allow", |b| {
            let cedar = cedar.get_or_init(|| Cedar::new(&w));
            b.iter(|| cedar.decide(black_box(&cedar.allow)))
        });
        group.bench_function("cedar_deny", |b| {
            let cedar = cedar.get_or_init(|| Cedar::new(&w));
            b.iter(|| cedar.decide(black_box(&cedar.deny)))
        });
        group.finish();
    }
}

fn maintenance(c: &mut Criterion) {
    for n in SIZES {
        let w = Workload::generate(n);
        let mut group = c.benchmark_group(format!("rbac_index/{n}"));
        group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        if n >= 10_000 {
            group.sample_size(10);
        }
        group.bench_function("build", |b| b.iter_with_large_drop(|| build(black_box(&w))));
        group.bench_function("build_and_drop", |b| b.iter(|| build(black_box(&w))));
        let authz = build(&w);
        let extra = w.extra_binding();
        group.bench_function("upsert_and_delete_binding", |b| {
            b.iter(|| {
                authz.upsert_role_binding(black_box(&extra));
                authz.delete_role_binding("ns0", "extra");
            })
        });
        let role = w.roles[0].clone();
        group.bench_function("upsert_role", |b| b.iter(|| authz.upsert_role(black_box(&role))));
        // A burst of changes (a watch backlog, an apply of many objects) published in one batch:
        // per change, compare with upsert_and_delete_binding.
        let burst = w.binding_burst(100);
        group.bench_function("upsert_and_delete_binding_batched_100", |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    authz.update(|u| burst.iter().for_each(|rb| u.upsert_role_binding(black_box(rb))));
                    authz.update(|u| {
                        burst.iter().for_each(|rb| u.delete_role_binding(&rb.metadata.namespace, &rb.metadata.name))
                    });
                }
                started.elapsed() / burst.len() as u32
            })
        });
        group.finish();
    }
}

/// `threads` threads each making `iters` decisions at once: the wall time.
fn concurrently(threads: usize, iters: u64, decide: &(impl Fn(usize) + Sync)) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for _ in 0..iters {
                    decide(t);
                }
            });
        }
    });
    started.elapsed()
}

/// 1, 2 and 4 threads deciding at once on one authorizer, per decision: every thread asking the
/// same thing (the worst case for shared cache lines), and each thread as a different user. The
/// control is the linear reference at 100 bindings, a plain immutable structure read with no
/// synchronization at all: how far it scales is what the machine allows.
fn parallel(c: &mut Criterion) {
    let w = Workload::generate(10_000);
    let authz = build(&w);
    let requests: Vec<Attributes> = (0..4).map(|t| w.allowed_request_of(t)).collect();
    assert!(requests.iter().all(|r| authz.authorize(r).is_allowed()));
    let small = Workload::generate(100);
    let linear =
        LinearAuthorizer::new(&small.roles, &small.cluster_roles, &small.role_bindings, &small.cluster_role_bindings);
    let small_allow = small.allowed_request();
    assert!(linear.authorize(&small_allow).0);
    let mut group = c.benchmark_group("rbac_parallel/10000");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for threads in [1, 2, 4] {
        for (name, distinct) in [("indexed_allow_same_user", false), ("indexed_allow_own_user", true)] {
            group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    concurrently(threads, iters, &|t| {
                        black_box(authz.authorize(black_box(&requests[if distinct { t } else { 0 }])));
                    })
                })
            });
        }
        group.bench_with_input(BenchmarkId::new("control_linear_100_allow", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                concurrently(threads, iters, &|_| drop(black_box(linear.authorize(black_box(&small_allow)))))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, maintenance, parallel);
criterion_main!(benches);
