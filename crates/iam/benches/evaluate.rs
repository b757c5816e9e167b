//! Policy evaluation for a user with 10 attached managed policies, against Cedar (the AWS
//! policy engine, `cedar-policy`) deciding the same 10 policies, in one run.
//!
//! Each policy allows `svc<i>:Get*`/`svc<i>:List*` on `arn:aws:s3:::bucket<i>/*` and denies
//! `svc<i>:Delete*`; the request matches only the last one, so every policy is looked at.
//!
//! `cargo bench -p iam --bench evaluate`

use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use iam::condition::ContextKeys;
use iam::eval::{AuthzRequest, Policies, authorize};
use iam::policy::PrincipalRef;
use iam::{Account, EntityKind, IamState, RequestEnv};

const POLICIES: usize = 10;
const ACTION: &str = "svc9:GetObject";
const RESOURCE: &str = "arn:aws:s3:::bucket9/reports/2026.csv";

fn iam_document(i: usize) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["svc{i}:Get*","svc{i}:List*"],"Resource":"arn:aws:s3:::bucket{i}/*"}},{{"Effect":"Deny","Action":"svc{i}:Delete*","Resource":"*"}}]}}"#
    )
}

fn cedar_policies() -> PolicySet {
    let text: String = (0..POLICIES)
        .map(|i| {
            format!(
                "permit(principal == User::\"alice\", action, resource) when {{ (context.action like \"svc{i}:Get*\" || \
                 context.action like \"svc{i}:List*\") && context.resource like \"arn:aws:s3:::bucket{i}/*\" }};\n\
                 forbid(principal == User::\"alice\", action, resource) when {{ context.action like \"svc{i}:Delete*\" }};\n"
            )
        })
        .collect();
    text.parse().expect("the Cedar policies parse")
}

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    let mut rng = rand::rng();
    let mut account = Account::new("123456789012");
    account.create_user("alice", None, vec![], now, &mut rng).unwrap();
    let key = account.create_access_key("alice", now, &mut rng).unwrap().access_key_id.clone();
    for i in 0..POLICIES {
        let arn = account
            .create_policy(&format!("p{i}"), None, &iam_document(i), None, vec![], now, &mut rng)
            .unwrap()
            .arn
            .clone();
        account.attach_policy(EntityKind::User, "alice", &arn).unwrap();
    }
    let mut state = IamState::new();
    state.put_account(account);
    let caller = state.caller(&key).unwrap();
    let env =
        RequestEnv { now, source_ip: Some("127.0.0.1".into()), region: "us-east-1".into(), secure_transport: true };
    let context: ContextKeys = state.request_context(&caller, &env);
    state.authorize(&caller, ACTION, RESOURCE, &context).expect("the last policy allows");

    let mut group = c.benchmark_group("policy evaluation, 10 attached policies");
    group.bench_function("rampart IamState::authorize (collect the user's policies + decide)", |b| {
        b.iter(|| state.authorize(&caller, ACTION, RESOURCE, &context).unwrap())
    });
    let documents: Vec<_> =
        (0..POLICIES).map(|i| iam::IdentityDocument::parse(&iam_document(i)).unwrap().parsed().clone()).collect();
    let policies = Policies { identity: Some(documents.iter().collect()), session: None, resource: None };
    let principal =
        PrincipalRef { arn: "arn:aws:iam::123456789012:user/alice", account: "123456789012", role_arn: None };
    let request = AuthzRequest { action: ACTION, resource: RESOURCE, context: &context };
    group.bench_function("rampart eval::authorize (decide only)", |b| {
        b.iter(|| authorize(&principal, &policies, &request).unwrap())
    });
    group.bench_function("rampart request context (global condition keys)", |b| {
        b.iter(|| state.request_context(&caller, &env))
    });

    let cedar = cedar_policies();
    let cedar_request = Request::new(
        r#"User::"alice""#.parse::<EntityUid>().unwrap(),
        r#"Action::"call""#.parse::<EntityUid>().unwrap(),
        r#"Resource::"bucket9""#.parse::<EntityUid>().unwrap(),
        Context::from_json_value(serde_json::json!({ "action": ACTION, "resource": RESOURCE }), None).unwrap(),
        None,
    )
    .unwrap();
    let authorizer = Authorizer::new();
    let entities = Entities::empty();
    assert_eq!(authorizer.is_authorized(&cedar_request, &cedar, &entities).decision(), cedar_policy::Decision::Allow);
    group.bench_function("cedar-policy is_authorized (peer)", |b| {
        b.iter(|| authorizer.is_authorized(&cedar_request, &cedar, &entities))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
