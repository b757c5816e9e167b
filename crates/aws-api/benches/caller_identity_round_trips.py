#!/usr/bin/env python3
"""`sts get-caller-identity` round trips per second: Rampart against moto_server, side by side,
driven by the same boto3 client loop (one client per server, connections reused).

Usage (from the repository root, after `cargo build --release`):
    python3 crates/aws-api/benches/caller_identity_round_trips.py [target/release/rampart]

Starts `rampart serve` (HTTPS, SigV4 verified, IAM authorized) and `moto_server` (plain HTTP, no
signature checks) on loopback ports, runs ROUNDS rounds of CALLS calls against each in turn,
prints the median rate and the ratio, and stops both. Traffic stays on 127.0.0.1.
"""
import os, socket, statistics, subprocess, sys, tempfile, time, configparser

import boto3

CALLS, ROUNDS = 500, 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def rate(client):
    start = time.perf_counter()
    for _ in range(CALLS):
        client.get_caller_identity()
    return CALLS / (time.perf_counter() - start)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/rampart"
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        rampart = subprocess.Popen([binary, "serve", "--data-dir", data, "--aws-listen", "127.0.0.1:0",
                                    "--kube-listen", "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moto_port = free_port()
        moto = subprocess.Popen(["moto_server", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.exists(os.path.join(data, "env")), "rampart serve")
            env = dict(line[len("export "):].split("=", 1) for line in open(os.path.join(data, "env")) if line.startswith("export "))
            env = {k: v.strip().strip("'") for k, v in env.items()}
            creds = configparser.ConfigParser()
            creds.read(env["AWS_SHARED_CREDENTIALS_FILE"])
            rampart_client = boto3.client("sts", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
                                          verify=env["AWS_CA_BUNDLE"],
                                          aws_access_key_id=creds["default"]["aws_access_key_id"],
                                          aws_secret_access_key=creds["default"]["aws_secret_access_key"])
            moto_client = boto3.client("sts", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{moto_port}",
                                       aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret")

            def moto_up():
                try:
                    moto_client.get_caller_identity()
                    return True
                except Exception:
                    return False
            wait_for(moto_up, "moto_server")
            assert rampart_client.get_caller_identity()["Arn"].endswith(":user/admin")
            results = {"rampart": [], "moto_server": []}
            for _ in range(ROUNDS):
                results["rampart"].append(rate(rampart_client))
                results["moto_server"].append(rate(moto_client))
            medians = {name: statistics.median(rates) for name, rates in results.items()}
            for name, rates in results.items():
                print(f"{name:12} median {medians[name]:8.0f} calls/s  (rounds: {', '.join(f'{r:.0f}' for r in rates)})")
            print(f"ratio rampart / moto_server: {medians['rampart'] / medians['moto_server']:.2f}")
        finally:
            for process in (rampart, moto):
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
