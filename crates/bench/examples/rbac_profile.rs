//! A fixed amount of RBAC work to run under `valgrind --tool=callgrind`, whose instruction counts
//! do not depend on the machine's load (criterion's medians do): building the index of the
//! benchmark's workload of N bindings, then deciding the allowed and the denied request many times,
//! or writing one more binding and deleting it again many times.
//!
//! `cargo build --profile bench -p bench --example rbac_profile`, then
//! `valgrind --tool=callgrind target/release/examples/rbac_profile build|allow|deny|write N`.

use std::hint::black_box;

use bench::rbac_workload::Workload;
use rbac::Authorizer;

const DECISIONS: usize = 100_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "build".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let w = Workload::generate(n);
    let build = || Authorizer::from_objects(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings);
    let request = match what.as_str() {
        "build" => {
            std::mem::forget(black_box(build()));
            return;
        }
        "write" => {
            let authz = build();
            let extra = w.extra_binding();
            for _ in 0..DECISIONS / 100 {
                authz.upsert_role_binding(black_box(&extra));
                authz.delete_role_binding("ns0", "extra");
            }
            return;
        }
        "allow" => w.allowed_request(),
        "deny" => w.denied_request(),
        other => panic!("build, allow, deny or write, not {other}"),
    };
    let authz = build();
    for _ in 0..DECISIONS {
        black_box(authz.authorize(black_box(&request)));
    }
}
