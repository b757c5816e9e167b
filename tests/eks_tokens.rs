//! Every way a `k8s-aws-v1.` token is refused, with tokens the real `aws eks get-token` mints
//! (then altered where the case needs it): expired, minted for another cluster, a tampered
//! signature, another action, an unknown key, an inactive key, a deleted user. Each is the 401
//! kubectl prints and one authenticator log line naming the failed check, never the token.

mod common;

use common::eks::*;

/// `kubectl get ns` with `token` (not through the exec plugin).
fn with_token(rampart: &Rampart, token: &str) -> Output {
    let bare = token_kubeconfig(rampart, &rampart.data_dir.join("kubeconfig"), "bare.kubeconfig");
    rampart.kubectl(&["--kubeconfig", bare.to_str().unwrap(), "--token", token, "get", "ns"])
}

/// Decodes a token's presigned URL, lets `change` edit it, and encodes it again.
fn altered(token: &str, change: impl Fn(&str) -> String) -> String {
    let script = r#"
import base64, sys
token, = sys.argv[1:]
body = token[len("k8s-aws-v1."):]
print(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
"#;
    let url = run(std::process::Command::new("python3").args(["-c", script, token]), None).ok().stdout;
    let changed = change(url.trim());
    let encode = r#"
import base64, sys
print("k8s-aws-v1." + base64.urlsafe_b64encode(sys.argv[1].encode()).decode().rstrip("="))
"#;
    run(std::process::Command::new("python3").args(["-c", encode, &changed]), None).ok().stdout.trim().to_string()
}

/// Asserts the 401 and that the log gained one `access denied` line containing `expected`.
#[track_caller]
fn refused(rampart: &Rampart, token: &str, expected: &str) {
    let before = authenticator_log(rampart).lines().count();
    let out = with_token(rampart, token).failed();
    assert!(out.stderr.contains(UNAUTHORIZED), "{}", out.stderr);
    let log = authenticator_log(rampart);
    let new: Vec<&str> = log.lines().skip(before).collect();
    assert!(
        new.iter().any(|l| l.contains("level=warning msg=\"access denied\"") && l.contains(expected)),
        "no log line with {expected:?} among:\n{}",
        new.join("\n")
    );
    if token.len() > 40 {
        assert!(!log.contains(&token[token.len() - 24..]), "the log holds the token");
    }
}

#[test]
fn every_refused_token_is_a_401_and_a_log_line_naming_the_check() {
    let rampart = Rampart::start();
    let good = get_token(&rampart, "default", CLUSTER);
    with_token(&rampart, &good).ok();

    // Minted for another cluster: STS (here, the local verifier) refuses the signature.
    let other = get_token(&rampart, "default", "another-cluster");
    refused(&rampart, &other, "SignatureDoesNotMatch");

    // A tampered signature.
    let tampered = altered(&good, |url| {
        let last = url.chars().last().unwrap();
        format!("{}{}", &url[..url.len() - 1], if last == '0' { '1' } else { '0' })
    });
    refused(&rampart, &tampered, "SignatureDoesNotMatch");

    // Another action.
    let action = altered(&good, |url| url.replace("Action=GetCallerIdentity", "Action=GetSessionToken"));
    refused(&rampart, &action, "input token was not properly formatted: unexpected action parameter in pre-signed URL");

    // Expired: signed 20 minutes ago.
    let script = r#"
import datetime, sys
import botocore.auth
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)).replace(tzinfo=None)
from awscli.clidriver import main
sys.exit(main())
"#;
    let old =
        run(rampart.command("python3").args(["-c", script, "eks", "get-token", "--cluster-name", CLUSTER]), None).ok();
    let old = json(&old)["status"]["token"].as_str().unwrap().to_string();
    refused(&rampart, &old, "X-Amz-Date parameter is expired (15 minute expiration)");

    // An access key IAM does not know.
    let unknown = run(
        rampart
            .command("aws")
            .env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNEXAMPLE01")
            .env("AWS_SECRET_ACCESS_KEY", "unknown-secret-unknown-secret-unknown-00")
            .args(["eks", "get-token", "--cluster-name", CLUSTER]),
        None,
    )
    .ok();
    let unknown = json(&unknown)["status"]["token"].as_str().unwrap().to_string();
    refused(&rampart, &unknown, "InvalidClientTokenId");

    // An inactive key: a token that worked stops working on the next request.
    let key = user_with_profile(&rampart, "temp");
    set_aws_auth(
        &rampart,
        None,
        Some(&format!("- userarn: arn:aws:iam::{ACCOUNT}:user/temp\n  username: temp\n  groups: [system:masters]\n")),
        None,
    )
    .ok();
    let temp = get_token(&rampart, "temp", CLUSTER);
    with_token(&rampart, &temp).ok();
    rampart
        .aws(&["iam", "update-access-key", "--user-name", "temp", "--access-key-id", &key, "--status", "Inactive"])
        .ok();
    refused(&rampart, &temp, "InvalidClientTokenId");

    // A deleted user (its key deleted first, as IAM requires).
    let key = user_with_profile(&rampart, "gone");
    set_aws_auth(
        &rampart,
        None,
        Some(&format!("- userarn: arn:aws:iam::{ACCOUNT}:user/gone\n  username: gone\n  groups: [system:masters]\n")),
        None,
    )
    .ok();
    let gone = get_token(&rampart, "gone", CLUSTER);
    with_token(&rampart, &gone).ok();
    rampart.aws(&["iam", "delete-access-key", "--user-name", "gone", "--access-key-id", &key]).ok();
    rampart.aws(&["iam", "delete-user", "--user-name", "gone"]).ok();
    refused(&rampart, &gone, "InvalidClientTokenId");

    // Not a token at all, and a token of the wrong shape.
    refused(&rampart, "k8s-aws-v1.!!!", "illegal base64 data at input byte 0");
    let http = altered(&good, |url| url.replacen("https://", "http://", 1));
    refused(&rampart, &http, r#"unexpected scheme \"http\" in pre-signed URL"#);
}
