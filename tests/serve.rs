//! `rampart serve` as a process: it becomes ready, writes its env file, stops cleanly on SIGTERM
//! and SIGINT, and refuses a bad start (a taken port, an unreadable or invalid configuration
//! file, a data directory of another format or in use) with one line and a non-zero exit,
//! leaving the data directory as it was. Also: every subcommand's help, wrong flags, and output
//! to a closed pipe.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Rampart, rampart_bin, run};

#[test]
fn serve_becomes_ready_and_stops_cleanly_on_sigterm() {
    let mut rampart = Rampart::start();
    assert!(rampart.data_dir.join("env").is_file(), "the env file is written when ready");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rampart.data_dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "a new data directory is its owner's only");
    let source = rampart.banner.iter().find(|line| line.contains("Use it from a shell:")).expect("how to use it");
    let env = rampart.data_dir.join("env");
    assert!(source.ends_with(&format!(". {}", env.display())), "an absolute path to source: {source}");
    for what in ["AWS endpoint", "AWS identity: arn:aws:iam::123456789012:user/admin", "Kubeconfig", "Admin kubeconfig"]
    {
        assert!(rampart.banner.iter().any(|line| line.contains(what)), "{what} in {:?}", rampart.banner);
    }
    assert_eq!(rampart.stop(), Some(0), "SIGTERM ends rampart serve with exit code 0");
}

#[test]
fn sigint_stops_it_cleanly_and_a_restart_keeps_the_state() {
    let mut rampart = Rampart::start();
    rampart.aws(&["iam", "create-user", "--user-name", "kept"]).ok();
    let pid = rampart.pid().unwrap();
    assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    assert_eq!(rampart.wait(), Some(0), "SIGINT ends rampart serve with exit code 0");
    rampart.restart();
    let out = rampart.aws(&["iam", "get-user", "--user-name", "kept"]).ok();
    assert!(out.stdout.contains("arn:aws:iam::123456789012:user/kept"), "{}", out.stdout);
}

/// A snapshot of every file under `dir`: path → contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn serve(data_dir: &Path, extra: &[&str]) -> common::Output {
    let home = data_dir.parent().unwrap();
    let mut command = Command::new(rampart_bin());
    command.arg("serve").arg("--data-dir").arg(data_dir).args(extra).env("HOME", home).env_remove("RAMPART_DATA_DIR");
    run(&mut command, None)
}

#[track_caller]
fn refused_in_one_line(out: &common::Output, starts: &str) {
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {:?}", out.stderr);
    assert!(out.stderr.starts_with(starts), "{:?}", out.stderr);
}

#[test]
fn a_bad_start_is_one_line_and_damages_nothing() {
    let mut rampart = Rampart::start();
    rampart.aws(&["iam", "create-user", "--user-name", "kept"]).ok();
    let data_dir = rampart.data_dir.clone();
    let aws_port = rampart.env["AWS_ENDPOINT_URL"].rsplit(':').next().unwrap().to_string();
    let taken = format!("127.0.0.1:{aws_port}");

    // A port in use (by the running server), for a fresh data dir: nothing is created.
    let fresh = data_dir.parent().unwrap().join("fresh");
    let out = serve(&fresh, &["--aws-listen", &taken, "--kube-listen", "127.0.0.1:0"]);
    refused_in_one_line(&out, &format!("error: cannot listen on {taken} (--aws-listen): "));
    assert!(out.stderr.contains("another address"), "{}", out.stderr);
    assert!(!fresh.exists(), "nothing written for a refused start");

    // The data dir in use by the running server.
    let before = snapshot(&data_dir.join("store"));
    let out = serve(&data_dir, &["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"]);
    refused_in_one_line(&out, "error: ");
    assert!(out.stderr.contains("in use by another process"), "{}", out.stderr);
    rampart.stop();

    // An unreadable and an invalid configuration file.
    let missing = data_dir.parent().unwrap().join("missing.yaml");
    let out = serve(&data_dir, &["--config", missing.to_str().unwrap(), "--aws-listen", "127.0.0.1:0"]);
    refused_in_one_line(&out, &format!("error: cannot read the configuration file {}: ", missing.display()));
    let invalid = rampart.write_file("invalid.yaml", "aws: [\n");
    let out = serve(&data_dir, &["--config", invalid.to_str().unwrap(), "--aws-listen", "127.0.0.1:0"]);
    refused_in_one_line(&out, &format!("error: invalid configuration file {}: line 1 column 6", invalid.display()));

    // A data dir written in another format.
    std::fs::write(data_dir.join("store/FORMAT"), "rampart-store-format 99\n").unwrap();
    let other_format = snapshot(&data_dir);
    let out = serve(&data_dir, &["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"]);
    refused_in_one_line(&out, "error: incompatible data: ");
    assert!(out.stderr.contains("format 99"), "{}", out.stderr);
    assert_eq!(snapshot(&data_dir), other_format, "a refused start changes no file");

    // Put the format back: everything is still there.
    std::fs::write(data_dir.join("store/FORMAT"), &before[&data_dir.join("store/FORMAT").display().to_string()])
        .unwrap();
    rampart.restart();
    rampart.aws(&["iam", "get-user", "--user-name", "kept"]).ok();
}

#[test]
fn every_subcommand_has_help_and_wrong_flags_are_clear() {
    let rampart = |args: &[&str]| run(Command::new(rampart_bin()).args(args), None);
    let top = rampart(&["--help"]);
    assert_eq!(top.code, 0);
    for command in ["serve", "auth", "who-can"] {
        assert!(top.stdout.contains(&format!("\n  {command} ")), "{command} listed: {}", top.stdout);
    }
    for args in
        [&["serve", "--help"][..], &["auth", "can-i", "--help"], &["auth", "whoami", "--help"], &["who-can", "--help"]]
    {
        let out = rampart(args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.contains("Usage: rampart "), "{args:?}: {}", out.stdout);
    }
    let serve_help = rampart(&["serve", "--help"]).stdout;
    for flag in ["--data-dir", "--aws-listen", "--kube-listen", "--config", "--exec", "--nodes"] {
        assert!(serve_help.contains(flag), "{flag} documented");
    }
    let out = rampart(&["serve", "--kube-listen", "six-four-four-three"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("error: invalid value 'six-four-four-three' for '--kube-listen <KUBE_LISTEN>'"),
        "{}",
        out.stderr
    );
    let out = rampart(&["serve", "--no-such-flag"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unexpected argument '--no-such-flag'"), "{}", out.stderr);
}

/// A reader that went away ends every command quietly, as Unix tools end on SIGPIPE (Rust's
/// `println!` panics there): `rampart serve | head -3` then Ctrl-C, a `serve` whose stdout is
/// closed before it is ready, and an offline command printing into a closed pipe.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Each serve's stderr goes to a file (a pipe nobody drains could block it).
    let serve_args = |name: &str| {
        let mut command = Command::new(rampart_bin());
        let data = dir.path().join(name);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"])
            .env_remove("RAMPART_DATA_DIR")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(format!("{name}.stderr"))).unwrap());
        command
    };
    let stderr_of = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.stderr"))).unwrap();

    // `rampart serve | head -3`: head reads three lines and exits; SIGTERM (as Ctrl-C) then makes
    // serve say it is shutting down, to nobody.
    let mut serve = serve_args("piped").stdout(Stdio::piped()).spawn().unwrap();
    let head = Command::new("head")
        .arg("-3")
        .stdin(Stdio::from(serve.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let shown = String::from_utf8(head.stdout).unwrap();
    assert!(shown.starts_with("Rampart is ready.\n"), "{shown}");
    assert_eq!(shown.lines().count(), 3, "{shown}");
    Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    let status = wait_for(&mut serve);
    let stderr = stderr_of("piped");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status, Some(0), "a signalled serve ends as usual though its output is gone: {stderr}");

    // Nobody reads at all: serve stops, quietly, with the status of SIGPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut serve = serve_args("closed").stdout(writer).spawn().unwrap();
    let status = wait_for(&mut serve);
    let stderr = stderr_of("closed");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status, Some(141), "{stderr}");

    // An offline command into a closed pipe.
    let policy = dir.path().join("rbac.yaml");
    std::fs::write(&policy, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ci, namespace: dev}\n").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(rampart_bin())
        .args(["who-can", "list", "pods", "-n", "dev", "-f", policy.to_str().unwrap()])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// The exit code of a process expected to end by itself within 30 s.
fn wait_for(child: &mut std::process::Child) -> Option<i32> {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process did not end within 30 s");
}
